"""What binary codes buy: storage and exhaustive-search cost of float vectors vs packed codes.

Storage. An item described by a float32 vector of D dimensions takes 4 D bytes; a K-bit
code packed one bit per bit takes ceil(K / 8) bytes. With D = 4096 (AlexNet's fc7, the
paper's features) and K = 64 that is 16,384 bytes against 8: a factor 32 D / K = 2048.

Search. Exhaustive k-nearest-neighbour search over N items costs, per query, N inner products
of length D for floats (a matrix product, which BLAS runs at full speed) against N XORs and
popcounts of ceil(K / 64) machine words for packed codes (``hamming_index.HammingIndex``).
``measure_search_cost`` times both on the same items: random Gaussian vectors and their
sign-of-random-projection (LSH) codes, because the cost does not depend on what the vectors
hold. The ratio of times depends on the machine (BLAS, popcount instructions, cores, load),
which is why a notebook measures it instead of quoting one.
"""
from __future__ import annotations

import time

import numpy as np

from ..retrieval import HammingIndex


def storage_bytes(n_items: int, *, dim: int | None = None, bits: int | None = None) -> int:
    """Bytes to store ``n_items`` float32 vectors of ``dim`` dimensions, or packed ``bits``-bit codes.

    Give exactly one of ``dim`` (4 * dim bytes per item) and ``bits`` (ceil(bits / 8) per item).
    """
    _positive_int("n_items", n_items, low=0)
    if (dim is None) == (bits is None):
        raise ValueError(f"dim={dim!r}, bits={bits!r}: expected exactly one of them")
    if dim is not None:
        return 4 * _positive_int("dim", dim) * int(n_items)
    return -(-_positive_int("bits", bits) // 8) * int(n_items)


def float_topk(queries, database, k: int, *, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Exhaustive top-k by inner product: scores float32 (Q, k), indices int64 (Q, k).

    Sorted by (score descending, index). Queries are processed ``chunk`` at a time so that the
    (chunk, N) score matrix, not (Q, N), bounds the memory.
    """
    q = np.asarray(queries, dtype=np.float32)
    d = np.asarray(database, dtype=np.float32)
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise ValueError(f"queries {q.shape} and database {d.shape}: expected (Q, D) and (N, D) arrays")
    k = _positive_int("k", k)
    if k > len(d):
        raise ValueError(f"k={k} is more than the {len(d)} database items")
    out_s = np.empty((len(q), k), np.float32)
    out_i = np.empty((len(q), k), np.int64)
    for start in range(0, len(q), chunk):
        scores = q[start:start + chunk] @ d.T  # (c, N), BLAS
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < len(d) else np.broadcast_to(
            np.arange(len(d)), scores.shape)
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)  # by score, then by index
        out_i[start:start + chunk] = np.take_along_axis(top, order, axis=1)
        out_s[start:start + chunk] = np.take_along_axis(top_scores, order, axis=1)
    return out_s, out_i


def measure_search_cost(*, n_database: int, n_queries: int, dim: int, bits: int, k: int = 10,
                        repeats: int = 3, seed: int = 0, backend: str = "auto") -> dict:
    """Time exhaustive top-k search of float32 vectors against their packed ``bits``-bit codes.

    Items are N(0, 1) vectors of ``dim`` dimensions; their codes are sign(x W) with W a
    (dim, bits) Gaussian matrix (LSH). Each search runs ``repeats`` times and the fastest is
    kept (the least disturbed by other work on the machine). Returns a dict with the sizes,
    ``bytes_float``, ``bytes_binary``, ``storage_ratio``, ``seconds_float``, ``seconds_binary``
    (whole query set), ``speedup`` (float time / binary time) and the Hamming ``backend`` used.
    """
    for name, value in (("n_database", n_database), ("n_queries", n_queries), ("dim", dim),
                        ("bits", bits), ("k", k), ("repeats", repeats)):
        _positive_int(name, value)
    if k > n_database:
        raise ValueError(f"k={k} is more than n_database={n_database}")
    rng = np.random.default_rng(seed)
    database = rng.standard_normal((n_database, dim), dtype=np.float32)
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)
    projection = rng.standard_normal((dim, bits), dtype=np.float32)
    database_codes = np.where(database @ projection >= 0, 1, -1).astype(np.int8)
    query_codes = np.where(queries @ projection >= 0, 1, -1).astype(np.int8)
    index = HammingIndex(database_codes, backend=backend)  # packs the codes once, like storing them

    def best_time(search) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            search()
            times.append(time.perf_counter() - t0)
        return min(times)

    seconds_float = best_time(lambda: float_topk(queries, database, k))
    seconds_binary = best_time(lambda: index.search(query_codes, k))
    bytes_float = storage_bytes(n_database, dim=dim)
    bytes_binary = storage_bytes(n_database, bits=bits)
    return {
        "n_database": n_database, "n_queries": n_queries, "dim": dim, "bits": bits, "k": k,
        "bytes_float": bytes_float, "bytes_binary": bytes_binary,
        "storage_ratio": bytes_float / bytes_binary,
        "seconds_float": seconds_float, "seconds_binary": seconds_binary,
        "speedup": seconds_float / max(seconds_binary, 1e-12), "backend": index.backend,
    }


def _positive_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}={value!r} is invalid: expected an integer >= {low}")
    return int(value)
