"""scikit-learn's shipped 8x8 digits: the data set every test and smoke run can use offline."""
from __future__ import annotations

import numpy as np
import torch

from .container import RetrievalData, split_arrays


def load_digits_data(spec: str = "digits", *, seed: int = 0, protocol) -> RetrievalData:
    """sklearn's 1,797 8x8 digits as (1, 8, 8) images in [0, 1], split as ``protocol``
    (``datasets.DATASETS['digits']``) says: 18 queries, 50 training items per class."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8)
    n_train, n_query = protocol.per_class
    return split_arrays(spec, x, digits.target, seed=seed, n_query=n_query, n_train=n_train,
                        database="rest", topk=protocol.topk, name="digits (sklearn)")
