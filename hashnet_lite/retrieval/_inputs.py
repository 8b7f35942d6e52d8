"""Input checks shared by the retrieval modules: codes, labels and options, never modified.

The generic checks come from ``hashnet_lite.checks`` (numpy only, no other package module).
"""
from __future__ import annotations

import numpy as np

from ..checks import as_numpy as _to_numpy
from ..checks import check_integer as _integer
from ..checks import check_option as _option  # noqa: F401 (used by metrics and index)

# ----------------------------------------------------------------------------- inputs
def _pack_words(bits: np.ndarray) -> np.ndarray:
    """Bool (N, K) -> uint64 (N, ceil(K / 64)); zero padding, so padding never adds distance."""
    packed = np.packbits(bits, axis=1)  # (N, ceil(K / 8)) uint8
    pad = -packed.shape[1] % 8
    if pad:
        packed = np.concatenate([packed, np.zeros((packed.shape[0], pad), np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def _code_bits(codes, name: str) -> np.ndarray:
    """Validate (N, K) +-1 codes of any integer or float dtype; return the bool (N, K) of +1s."""
    a = _to_numpy(codes, name)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} has shape {a.shape}: expected (N, K) codes with N >= 1 items and K >= 1 bits")
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{name} has dtype {a.dtype}: expected +1/-1 values of an integer or float dtype")
    plus = a == 1
    ok = plus | (a == -1)
    if not ok.all():
        bad = a[~ok].flat[0].item()
        raise ValueError(f"{name} holds the value {bad!r}: expected only +1 and -1 "
                         "(sign(z) with 0 mapped to +1; codes b in {0, 1} become 2 * b - 1)")
    return plus


def _codes(query_codes, database_codes):
    q, d = _code_bits(query_codes, "query_codes"), _code_bits(database_codes, "database_codes")
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"query_codes has {q.shape[1]} bits but database_codes has {d.shape[1]}: "
                         "expected codes of the same length")
    return _pack_words(q), _pack_words(d), q.shape[1]


def _labels(query_labels, database_labels, n_queries: int, n_database: int):
    """Labels as uint64 words (Q, L), (N, L) and whether they are class ids (else multi-hot bits)."""
    q, d = _to_numpy(query_labels, "query_labels"), _to_numpy(database_labels, "database_labels")
    for name, a, n, codes in (("query_labels", q, n_queries, "query"), ("database_labels", d, n_database, "database")):
        if a.ndim not in (1, 2):
            raise ValueError(f"{name} has shape {a.shape}: expected (N,) class ids or (N, C) multi-hot rows")
        if a.shape[0] != n:
            raise ValueError(f"{name} has {a.shape[0]} rows but {codes}_codes has {n}: expected one label per item")
    if q.ndim != d.ndim or (q.ndim == 2 and q.shape[1] != d.shape[1]):
        raise ValueError(f"query_labels has shape {q.shape} but database_labels has {d.shape}: expected the same "
                         "form for both (1-D class ids, or 2-D multi-hot rows of the same width)")
    if q.ndim == 1:
        for name, a in (("query_labels", q), ("database_labels", d)):
            if a.dtype.kind not in "iu" or (a.size and a.min() < 0):
                raise ValueError(f"{name} (dtype {a.dtype}) must hold class ids, integers >= 0 (for items with "
                                 "no label use 2-D multi-hot rows with an all-zero row)")
        return q.astype(np.uint64)[:, None], d.astype(np.uint64)[:, None], True
    if q.shape[1] == 0:
        raise ValueError(f"query_labels has shape {q.shape}: expected at least one class column")
    for name, a in (("query_labels", q), ("database_labels", d)):
        if a.dtype.kind not in "biuf" or not ((a == 0) | (a == 1)).all():
            raise ValueError(f"{name} must be 0/1 multi-hot rows (an all-zero row: an item with no label)")
    return _pack_words(q == 1), _pack_words(d == 1), False


def _topk_arg(topk, n_database: int | None = None):
    """R: None means the whole database; an R above the database size is the whole database.
    Called once without n_database to validate before any work, then with it."""
    if topk is not None:
        topk = _integer("topk", topk, 1)
    if n_database is None:
        return topk
    return n_database if topk is None else min(topk, n_database)

