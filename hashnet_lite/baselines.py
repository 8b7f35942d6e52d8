"""Unsupervised shallow hashing baselines the paper compares against.

- ``LSH``: sign of random Gaussian projections of the zero-centred data (random
  hyperplane LSH, Charikar 2002), the "LSH" of the deep hashing tables.
- ``ITQ``: Iterative Quantization (Gong & Lazebnik, CVPR 2011): PCA to K dimensions,
  then an orthogonal rotation R that minimises the quantization loss ||B - V R||_F^2,
  alternating B = sign(V R) and the orthogonal Procrustes solution for R.

Both are fitted on the training features and return int8 codes in {-1, +1} (0 -> +1).
"""
from __future__ import annotations

import numpy as np


def _as_features(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"{name} has shape {x.shape}: expected a 2-D (N, D) array with N >= 1")
    return x


def _fitted_features(model, x) -> np.ndarray:
    """x checked against what ``model`` was fitted on."""
    if not hasattr(model, "mean_"):
        raise ValueError(f"{type(model).__name__}.encode called before fit(x_train)")
    x = _as_features(x)
    if x.shape[1] != model.mean_.shape[0]:
        raise ValueError(f"x has {x.shape[1]} features but {type(model).__name__} was fitted on "
                         f"{model.mean_.shape[0]}")
    return x


def _sign(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, 1, -1).astype(np.int8)


class LSH:
    """Random hyperplane hashing: codes = sign((x - mean) W), W ~ N(0, 1)^(D x K)."""

    def __init__(self, bits: int, *, seed: int = 0):
        if not isinstance(bits, (int, np.integer)) or bits < 1:
            raise ValueError(f"bits={bits!r} is invalid: expected an integer >= 1")
        self.bits, self.seed = int(bits), seed

    def fit(self, x) -> "LSH":
        x = _as_features(x)
        self.mean_ = x.mean(axis=0)
        self.projection_ = np.random.default_rng(self.seed).standard_normal((x.shape[1], self.bits))
        return self

    def encode(self, x) -> np.ndarray:
        x = _fitted_features(self, x)
        return _sign((x - self.mean_) @ self.projection_)


class ITQ:
    """Iterative Quantization: PCA to K dims + the learned rotation (Gong & Lazebnik 2011).

    When K exceeds the number of principal directions the data have (min(N, D)), the PCA
    coordinates are lifted to K dimensions by a fixed random map with orthonormal rows
    before the rotation is learned, so every code length works.
    """

    def __init__(self, bits: int, *, n_iter: int = 50, seed: int = 0):
        if not isinstance(bits, (int, np.integer)) or bits < 1:
            raise ValueError(f"bits={bits!r} is invalid: expected an integer >= 1")
        if n_iter < 0:
            raise ValueError(f"n_iter={n_iter!r} is invalid: expected an integer >= 0")
        self.bits, self.n_iter, self.seed = int(bits), int(n_iter), seed

    def fit(self, x) -> "ITQ":
        x = _as_features(x)
        rng = np.random.default_rng(self.seed)
        self.mean_ = x.mean(axis=0)
        xc = x - self.mean_
        # PCA via SVD of the centred data: rows of vt are the principal directions.
        _, _, vt = np.linalg.svd(xc, full_matrices=False)
        n_pc = min(self.bits, vt.shape[0])
        projection = vt[:n_pc].T  # (D, n_pc)
        if n_pc < self.bits:
            lift = np.linalg.qr(rng.standard_normal((self.bits, n_pc)))[0].T  # (n_pc, K), orthonormal rows
            projection = projection @ lift
        v = xc @ projection  # (N, K)
        # Random orthogonal initialisation, then alternate B and R (Procrustes).
        r = np.linalg.qr(rng.standard_normal((self.bits, self.bits)))[0]
        for _ in range(self.n_iter):
            b = np.where(v @ r >= 0, 1.0, -1.0)
            u, _, wt = np.linalg.svd(b.T @ v)  # B^T V = U S W^T  ->  R = W U^T
            r = wt.T @ u.T
        self.projection_ = projection @ r  # (D, K)
        return self

    def quantization_loss(self, x) -> float:
        """||B - V R||_F^2 / N for data x (what ITQ minimises)."""
        v = (_as_features(x) - self.mean_) @ self.projection_
        return float(((np.where(v >= 0, 1.0, -1.0) - v) ** 2).sum() / len(v))

    def encode(self, x) -> np.ndarray:
        x = _fitted_features(self, x)
        return _sign((x - self.mean_) @ self.projection_)
