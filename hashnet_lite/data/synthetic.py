"""Synthetic retrieval data with as many classes as you like: Gaussian clusters.

The paper's data sets have 80-100 classes (ImageNet-100, MS-COCO) or many concepts
(NUS-WIDE), so only ~1-5% of the pairs in a batch are similar; the shipped digits have 10
classes (~10%). ``gaussian_clusters`` makes data whose number of classes is a parameter, so
the effect of that imbalance on HashNet-W (no weights) can be measured on a CPU in seconds.

Class c has a centre m_c ~ N(0, spread^2 I_D); its items are m_c + N(0, I_D). The split is
the one of the shipped data sets (``split_arrays``): per class ``n_query`` queries and
``n_train`` training items, the database every non-query item, mAP over the whole database.
"""
from __future__ import annotations

import numpy as np
import torch

from .container import RetrievalData, split_arrays


def gaussian_clusters(num_classes: int, *, per_class: int = 60, n_query: int = 10, n_train: int = 30,
                      dim: int = 32, spread: float = 1.0, seed: int = 0) -> RetrievalData:
    """A ``RetrievalData`` of ``num_classes`` Gaussian clusters of feature vectors (``dim``,).

    ``per_class`` items per class, of which ``n_query`` are queries and ``n_train`` train
    (drawn with ``np.random.default_rng(seed)``, as are the centres and the noise). The
    smaller ``spread`` (centre scale over noise scale), the more the classes overlap.
    """
    for name, value, low in (("num_classes", num_classes, 2), ("per_class", per_class, 2),
                             ("n_query", n_query, 1), ("n_train", n_train, 1), ("dim", dim, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name}={value!r} is invalid: expected an integer >= {low}")
    if n_query + n_train > per_class:
        raise ValueError(f"n_query + n_train = {n_query + n_train} is more than per_class={per_class}: "
                         "each class needs its queries and training items")
    if not spread > 0:
        raise ValueError(f"spread={spread!r} is invalid: expected a positive number")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_classes, dim)) * spread  # (C, D)
    class_ids = np.repeat(np.arange(num_classes), per_class)  # (N,)
    x = centres[class_ids] + rng.standard_normal((len(class_ids), dim))  # (N, D)
    return split_arrays(f"gaussian_clusters:{num_classes}", torch.from_numpy(x.astype(np.float32)), class_ids,
                        seed=seed, n_query=n_query, n_train=n_train, database="rest", topk=None,
                        name=f"Gaussian clusters (dim {dim}, spread {spread})")
