"""The weighted pairwise likelihood (paper Sec. 3.2, Eq. 4-5).

For a pair (i, j) with similarity s_ij in {0, 1} and continuous codes h_i, h_j:

    theta_ij = alpha * <h_i, h_j>                         (adaptive sigmoid, alpha = 10 / K)
    p(s_ij = 1 | h_i, h_j) = sigmoid(theta_ij)
    -log p(s_ij | h_i, h_j) = log(1 + exp(theta_ij)) - s_ij * theta_ij       (Eq. 4)
    L = sum_ij w_ij * (log(1 + exp(theta_ij)) - s_ij * theta_ij)            (Eq. 5)

log(1 + exp(x)) is computed as softplus(x), which never overflows. The weights w_ij
rebalance similar and dissimilar pairs, which are very unequal in number when there are
many classes (with C balanced classes only ~1/C of all pairs are similar):

- ``"paper"``: w_ij = |S| / |S1| for similar pairs, |S| / |S0| for dissimilar ones,
  counted per batch (Eq. 5's weights);
- ``"class_num"``: the authors' released PyTorch code: similar pairs x ``class_num``;
- ``"none"``: w_ij = 1 (the HashNet-W ablation).

All three are returned as a weighted mean, sum(w * l) / sum(w), which for "class_num"
is exactly the authors' normalisation sum / (n_similar * class_num + n_dissimilar),
and for "paper" is Eq. 5 divided by the constant 2|S|.

Multi-label data (``continuous_similarity=True``: the paper's HashNet+C). On multi-label
data Eq. 5 also weighs each similar pair by a continuous similarity c_ij: how similar two
items are, not only whether they share a label. c_ij is the formula of the authors' Caffe
layer (github.com/thuml/HashNet, caffe/src/caffe/layers/pairwise_loss_layer.cu, option
``continous_similarity``):

    c_ij = (y_i . y_j)^2 / (|y_i|^2 |y_j|^2)      (the squared cosine of the label rows)

(an empty label row counts as |y|^2 = 1). Here a similar pair's weight becomes

    w_ij c_ij * sum_S1 w / sum_S1 (w c)           (dissimilar pairs keep w_ij)

so the similar pairs share the same total weight as without c_ij, in proportion to c_ij.
On single-label data every similar pair has c_ij = 1 = s_ij and the loss is HashNet's
exactly, as the paper reports HashNet+C equal to HashNet on single-label ImageNet.

The Caffe layer applies c_ij to the gradient instead: 4 c_ij for pairs sharing a label and
4 * 0.25 = 1 for the others, normaliser unchanged. Within the similar pairs that is the
same proportion to c_ij; it also multiplies their total weight by 4 * mean(c_ij), a
constant re-balancing like ``class_num`` (on single-label data: similar pairs x4), which
would make HashNet+C differ from HashNet where the paper says they agree. The balance
between similar and dissimilar pairs is left to ``weighting`` here. The three released
training files (caffe/models/train/{imagenet,nuswide_81,coco}/train_val.prototxt) set the
option on; the package's HashNet leaves it off and trains it as the separate method
HashNet+C, as the paper's ablation does (docs/fidelity.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def as_label_matrix(labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Labels as a float (N, C) 0/1 matrix: class ids (N,) are one-hot encoded."""
    if labels.dim() == 1:
        if num_classes is None:
            num_classes = int(labels.max().item()) + 1 if labels.numel() else 1
        return F.one_hot(labels.long(), num_classes).float()
    if labels.dim() == 2:
        return labels.float()
    raise ValueError(f"labels has shape {tuple(labels.shape)}: expected (N,) class ids or (N, C) multi-hot rows")


def similarity(labels_a: torch.Tensor, labels_b: torch.Tensor | None = None) -> torch.Tensor:
    """s_ij = 1 when items i and j share at least one label, else 0.  (N_a, N_b) float."""
    if labels_b is None:
        labels_b = labels_a
    if labels_a.dim() == 1 and labels_b.dim() == 1:  # class ids: similar = same class
        return (labels_a.reshape(-1, 1) == labels_b.reshape(1, -1)).float()
    a = as_label_matrix(labels_a, labels_b.shape[1] if labels_b.dim() == 2 else None)
    b = as_label_matrix(labels_b, a.shape[1])
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"labels_a has {a.shape[1]} classes but labels_b has {b.shape[1]}")
    return (a @ b.T > 0).float()


def pair_weights(s: torch.Tensor, weighting: str = "paper", class_num: float = 1.0,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """w_ij for a similarity matrix ``s`` (pairs outside ``mask`` get weight 0)."""
    mask = torch.ones_like(s, dtype=torch.bool) if mask is None else mask
    s_in = s * mask
    if weighting == "paper":
        n_all = mask.sum()
        n_sim = s_in.sum()
        n_dis = n_all - n_sim
        w_sim = n_all / n_sim.clamp(min=1)
        w_dis = n_all / n_dis.clamp(min=1)
        w = torch.where(s > 0, w_sim, w_dis)
    elif weighting == "class_num":
        w = torch.where(s > 0, torch.full_like(s, float(class_num)), torch.ones_like(s))
    elif weighting == "none":
        w = torch.ones_like(s)
    else:
        raise ValueError(f"weighting={weighting!r} is invalid: expected 'paper', 'class_num' or 'none'")
    return w * mask


def squared_label_cosine(labels: torch.Tensor) -> torch.Tensor:
    """c_ij = (y_i . y_j)^2 / (|y_i|^2 |y_j|^2), the squared cosine of the label rows (0 for
    pairs sharing no label).  labels: (N,) class ids or (N, C) rows -> (N, N) float."""
    y = as_label_matrix(labels)  # (N, C)
    dot = y @ y.T  # (N, N): y_i . y_j
    sq_norm = dot.diagonal().clone()  # (N,): |y_i|^2
    sq_norm[sq_norm == 0] = 1.0  # an item without labels: |y|^2 := 1 (Caffe's RemoveZero)
    return dot ** 2 / (sq_norm.reshape(-1, 1) * sq_norm.reshape(1, -1))


def with_continuous_similarity(w: torch.Tensor, s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Eq. 5's weights with c_ij: similar pairs' w_ij * c_ij, rescaled so that their total
    stays sum_S1 w (module docstring); dissimilar pairs keep w_ij.  (B, B) -> (B, B)"""
    similar = s > 0
    wc = torch.where(similar, w * c, w)
    scale = (w * similar).sum() / (wc * similar).sum().clamp(min=1e-12)
    return torch.where(similar, wc * scale, w)


def pairwise_likelihood_loss(h: torch.Tensor, labels: torch.Tensor, *, alpha: float,
                             weighting: str = "paper", class_num: float = 1.0,
                             continuous_similarity: bool = False) -> torch.Tensor:
    """HashNet's loss over all pairs i != j of one batch.

    h: (B, K) continuous codes tanh(beta z); labels: (B,) class ids or (B, C) multi-hot.
    Returns the weighted mean of -log p(s_ij | h_i, h_j) (a scalar, float32 or float64).
    ``continuous_similarity``: weigh similar pairs by c_ij as well (Eq. 5; module docstring).
    """
    if not isinstance(continuous_similarity, bool):
        raise ValueError(f"continuous_similarity={continuous_similarity!r} is invalid: expected True or False")
    if h.dim() != 2:
        raise ValueError(f"h has shape {tuple(h.shape)}: expected (B, K)")
    if labels.shape[0] != h.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} rows but h has {h.shape[0]}")
    # At least float32, also under autocast (half inputs are upcast; float64 stays float64).
    h = h.to(torch.promote_types(h.dtype, torch.float32))
    s = similarity(labels).to(device=h.device, dtype=h.dtype)  # (B, B)
    theta = alpha * (h @ h.T)  # (B, B)
    nll = F.softplus(theta) - s * theta  # Eq. 4, stable for any theta
    off_diagonal = ~torch.eye(h.shape[0], dtype=torch.bool, device=h.device)
    w = pair_weights(s, weighting, class_num, mask=off_diagonal)
    if continuous_similarity:  # Eq. 5's c_ij on top of w_ij; sum(w) is unchanged by it
        w = with_continuous_similarity(w, s, squared_label_cosine(labels).to(device=h.device, dtype=h.dtype))
    return (w * nll).sum() / w.sum().clamp(min=1e-12)
