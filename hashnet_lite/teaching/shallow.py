"""PCA hashing: ITQ without its rotation, for lesson 01's "why rotate?".

ITQ (``baselines.ITQ``) projects the data on its top K principal directions, V = (x - mu) P,
and then learns a rotation R that brings V R close to the corners +-1. ``PCAHash`` stops
before the rotation: b = sign(V). PCA puts most of the variance in the first few directions,
so most of these K bits split the data along directions where it hardly varies. The lesson
sets it beside ITQ with a random rotation (``ITQ(n_iter=0)``) and the learned one.
"""
from __future__ import annotations

import numpy as np


class PCAHash:
    """b = sign((x - mean) P), P the top ``bits`` principal directions of the training data."""

    def __init__(self, bits: int):
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
            raise ValueError(f"bits={bits!r} is invalid: expected an integer >= 1")
        self.bits = int(bits)

    def fit(self, x) -> "PCAHash":
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or min(x.shape) < self.bits:
            raise ValueError(f"x has shape {x.shape}: expected (N, D) with N and D >= bits = {self.bits}")
        self.mean_ = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - self.mean_, full_matrices=False)
        self.projection_ = vt[: self.bits].T  # (D, K)
        return self

    def project(self, x) -> np.ndarray:
        """V = (x - mean) P, (N, K) float64."""
        if not hasattr(self, "projection_"):
            raise ValueError("PCAHash.project called before fit(x_train)")
        return (np.asarray(x, dtype=np.float64) - self.mean_) @ self.projection_

    def encode(self, x) -> np.ndarray:
        return np.where(self.project(x) >= 0, 1, -1).astype(np.int8)

    def quantization_loss(self, x) -> float:
        """||sign(V) - V||_F^2 / N, the quantity ITQ's rotation lowers."""
        v = self.project(x)
        return float(((np.where(v >= 0, 1.0, -1.0) - v) ** 2).sum() / len(v))

    def variance_shares(self, x) -> np.ndarray:
        """The share of the projected variance each of the K directions carries, (K,)."""
        var = self.project(x).var(axis=0)
        return var / var.sum()
