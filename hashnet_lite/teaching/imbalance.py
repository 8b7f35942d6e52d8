"""How imbalanced similarity data are, measured on the batches HashNet trains on.

HashNet's loss runs over the pairs of a mini-batch (paper Sec. 3.2). With C balanced
classes, two items drawn at random share a class with probability ~1/C, so with 100
classes only ~1% of the pairs are similar: S1 (similar pairs) is small, S0 (dissimilar
pairs) is large. Eq. 5 weights each similar pair by |S| / |S1| and each dissimilar pair by
|S| / |S0|, so that both kinds carry half of the total weight. Without the weights (the
HashNet-W ablation) the dissimilar pairs dominate the loss.

``batch_pair_statistics`` measures this with the loss's own pieces (``loss.similarity``,
``loss.pair_weights``) on random batches of a label set, as the training loop forms them.
"""
from __future__ import annotations

import numpy as np
import torch

from ..checks import as_numpy
from ..loss import pair_weights, similarity


def _labels_tensor(labels) -> torch.Tensor:
    a = as_numpy(labels, "labels")
    if a.ndim not in (1, 2) or len(a) < 2:
        raise ValueError(f"labels has shape {a.shape}: expected (N,) class ids or (N, C) 0/1 rows with N >= 2")
    if a.ndim == 1 and (a.dtype.kind not in "iu" or a.min() < 0):
        raise ValueError(f"labels (dtype {a.dtype}) must hold class ids (integers >= 0) or 0/1 rows")
    if a.ndim == 2 and not ((a == 0) | (a == 1)).all():
        raise ValueError("labels must hold 0/1 multi-hot rows")
    return torch.from_numpy(np.ascontiguousarray(a).astype(np.int64 if a.ndim == 1 else np.float32))


def similar_pair_share(labels) -> float:
    """Share of the ordered pairs (i, j), i != j, of ``labels`` that are similar (s_ij = 1)."""
    y = _labels_tensor(labels)
    s = similarity(y)  # (N, N)
    n = s.shape[0]
    return float((s.sum() - s.diagonal().sum()) / (n * (n - 1)))


def balanced_share(num_classes: int) -> float:
    """1 / C: the chance that two items with independent, uniformly drawn classes share one."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} is invalid: expected an integer >= 1")
    return 1.0 / num_classes


def batch_pair_statistics(labels, batch_size: int = 64, *, n_batches: int = 50, seed: int = 0) -> dict:
    """Means over ``n_batches`` random batches (drawn without replacement within a batch,
    with ``np.random.default_rng(seed)``) of the pairs i != j of a batch:

    - ``similar_share``: |S1| / |S|;
    - ``w_similar`` = |S| / |S1| and ``w_dissimilar`` = |S| / |S0|: Eq. 5's weights, as
      ``loss.pair_weights(s, "paper")`` gives them (batches without a similar pair are left
      out of the w_similar mean, those without a dissimilar one out of w_dissimilar's);
    - ``similar_weight_share_paper`` / ``similar_weight_share_none``: the share of the
      loss's total weight on similar pairs with Eq. 5's weights / with none (HashNet-W);
    - ``batches_without_similar``: share of batches with no similar pair at all.
    """
    y = _labels_tensor(labels)
    n = len(y)
    for name, value, low in (("batch_size", batch_size, 2), ("n_batches", n_batches, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name}={value!r} is invalid: expected an integer >= {low}")
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} is more than the {n} labelled items")
    if y.dim() == 1:  # one-hot with the width of the whole label set, not of one batch
        y = torch.nn.functional.one_hot(y, int(y.max()) + 1).float()
    rng = np.random.default_rng(seed)
    mask = ~torch.eye(batch_size, dtype=torch.bool)
    shares, w_sim, w_dis, weight_paper, empty = [], [], [], [], 0
    for _ in range(n_batches):
        s = similarity(y[torch.from_numpy(rng.choice(n, size=batch_size, replace=False))])  # (B, B)
        w = pair_weights(s, "paper", mask=mask)
        similar = (s > 0) & mask
        n_sim = int(similar.sum())
        shares.append(n_sim / int(mask.sum()))
        if n_sim:
            w_sim.append(float(w[similar][0]))
            weight_paper.append(float(w[similar].sum() / w.sum()))
        else:
            empty += 1
            weight_paper.append(0.0)
        if n_sim < int(mask.sum()):
            w_dis.append(float(w[~similar & mask][0]))
    return {
        "similar_share": float(np.mean(shares)),
        "w_similar": float(np.mean(w_sim)) if w_sim else float("nan"),
        "w_dissimilar": float(np.mean(w_dis)) if w_dis else float("nan"),
        "similar_weight_share_paper": float(np.mean(weight_paper)),
        "similar_weight_share_none": float(np.mean(shares)),
        "batches_without_similar": empty / n_batches,
    }
