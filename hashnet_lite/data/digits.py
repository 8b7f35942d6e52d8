"""scikit-learn's shipped 8x8 digits: the data set every test and smoke run can use offline."""
from __future__ import annotations

import numpy as np
import torch

from ..presets import PROTOCOLS
from .container import RetrievalData, split_arrays


def load_digits_data(spec: str = "digits", *, seed: int = 0) -> RetrievalData:
    """sklearn's 1,797 8x8 digits as (1, 8, 8) images in [0, 1]; 18 queries, 50 train per class."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8)
    return split_arrays(spec, x, digits.target, seed=seed, n_query=18, n_train=50,
                        database="rest", topk=PROTOCOLS["digits"].topk, name="digits (sklearn)")
