"""A 2-D map of hash codes that keeps their Hamming neighbourhoods: UMAP on Hamming distances.

``umap_codes`` gives UMAP (McInnes, Healy, Melville 2018) the exact pairwise Hamming
distances d(b_i, b_j) / K computed by ``retrieval.hamming_distance`` (popcount on packed
bits) as a precomputed metric. That is UMAP's ``metric="hamming"`` (the share of differing
bits) without compiling its own Hamming kernels, which took over two minutes on a busy
2-core machine (the precomputed route compiles only the layout optimiser, ~15-35 s on the
first call of a session). The N x N distance matrix limits N: take a ``stratified_subset``
of a large database first.

umap-learn is imported inside the function, so the package imports without it.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..checks import as_numpy, class_ids
from ..retrieval import hamming_distance, pack_codes, unpack_codes

MAX_POINTS = 5000  # 5000^2 float32 distances: 100 MB


def stratified_subset(labels, max_points: int, *, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_points`` items, the same share of every class
    (by ``gallery.class_ids``; items with no label count as one more class), drawn with
    ``np.random.default_rng(seed)``. All items when there are no more than ``max_points``."""
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 1:
        raise ValueError(f"max_points={max_points!r} is invalid: expected an integer >= 1")
    classes = class_ids(labels)
    n = len(classes)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    share = max_points / n
    picked = []
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        take = min(len(members), max(1, int(round(share * len(members)))))
        picked.append(rng.choice(members, size=take, replace=False))
    picked = np.concatenate(picked)
    if len(picked) > max_points:  # rounding up in many small classes
        picked = rng.choice(picked, size=max_points, replace=False)
    return np.sort(picked).astype(np.int64)


def umap_codes(codes, *, n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int | None = None,
               seed: int = 0) -> np.ndarray:
    """2-D UMAP coordinates (N, 2) float32 of +-1 codes (N, K) under the Hamming distance.

    ``n_epochs`` None lets UMAP choose (200 for small N); fewer epochs give a rougher map
    sooner. ``seed`` makes the map reproducible (UMAP then runs single-threaded).
    """
    packed = pack_codes(codes)  # validates the +-1 codes
    n, k = packed.shape[0], as_numpy(codes, "codes").shape[1]
    if n < 3:
        raise ValueError(f"codes has {n} items: UMAP needs at least 3")
    if n > MAX_POINTS:
        raise ValueError(f"codes has {n} items: at most {MAX_POINTS} (the N x N distance matrix); "
                         "take embedding.stratified_subset(labels, max_points) of them first")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
        raise ValueError(f"n_neighbors={n_neighbors!r} is invalid: expected an integer >= 2")
    if n_epochs is not None and (isinstance(n_epochs, bool) or not isinstance(n_epochs, (int, np.integer))
                                 or n_epochs < 1):
        raise ValueError(f"n_epochs={n_epochs!r} is invalid: expected None or an integer >= 1")
    import umap  # heavy (numba); only when a map is asked for

    codes_pm = unpack_codes(packed, k)
    distances = hamming_distance(codes_pm, codes_pm).astype(np.float32) / k  # (N, N), UMAP's 'hamming'
    reducer = umap.UMAP(n_neighbors=min(int(n_neighbors), n - 1), min_dist=min_dist, n_epochs=n_epochs,
                        metric="precomputed", random_state=seed)
    with warnings.catch_warnings():
        # "n_jobs overridden by random_state", "precomputed: no inverse_transform", and the
        # like: notes about UMAP's options, not about the data
        warnings.simplefilter("ignore", UserWarning)
        xy = reducer.fit_transform(distances)
    return np.asarray(xy, dtype=np.float32)


def linear_map_codes(codes) -> np.ndarray:
    """2-D coordinates (N, 2) float32 of +-1 codes by PCA, which for +-1 codes is classical MDS
    of their Hamming distances (||b - b'||^2 = 4 d_H(b, b')). Linear, instant, no compiling:
    the lessons' smoke mode draws it where full mode draws ``umap_codes``."""
    x = np.asarray(unpack_codes(pack_codes(codes), as_numpy(codes, "codes").shape[1]), dtype=np.float64)
    if len(x) < 3:
        raise ValueError(f"codes has {len(x)} items: expected at least 3")
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return (u[:, :2] * s[:2]).astype(np.float32)
