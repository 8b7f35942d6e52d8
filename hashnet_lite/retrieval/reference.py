"""The plain reference: AP@R computed exactly as the definition reads, one query at a time.

No packing, no kernels, no chunking: a Python loop over the ranked list. It is slow
(it builds the (Q, N) distance matrix) and meant for small cases, where it is the yardstick
the fast metrics are tested against and the worked example the lessons show.

For one query, rank the database by Hamming distance, keep the top R, and let rel_k = 1
when the k-th item is relevant (shares a label with the query). With n = sum_{k <= R} rel_k,

    AP@R = (1 / n) * sum_{k <= R, rel_k = 1} (hits in the top k) / k

Note the normaliser: the relevant items *found in the top R*, not all relevant items of the
database. ``tie_order`` says how items at the same distance are ordered: by database index
(the package's default), or with the relevant items first or last inside every tie.
"""
from __future__ import annotations

import numpy as np

TIE_ORDERS = ("index", "relevant_first", "relevant_last")


def ap_at_r(relevant, topk: int | None = None) -> tuple[float, int]:
    """(AP@topk, n): AP of one ranked 0/1 relevance list and the relevant items in its top R.

    AP is 0.0 when the top R holds nothing relevant (n = 0); callers decide what such a
    query counts for.
    """
    rel = np.asarray(relevant)
    if rel.ndim != 1 or not np.isin(rel, (0, 1)).all():
        raise ValueError(f"relevant={relevant!r}: expected a 1-D sequence of 0/1 values")
    if topk is not None and (isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1):
        raise ValueError(f"topk={topk!r} is invalid: expected None or an integer >= 1")
    hits, total = 0, 0.0
    for k, r in enumerate(rel[: len(rel) if topk is None else int(topk)], start=1):
        if r:
            hits += 1
            total += hits / k  # precision at a relevant position
    return (total / hits if hits else 0.0), hits


def relevance(query_labels, database_labels) -> np.ndarray:
    """(Q, N) bool: same class for class ids (N,), a shared label for multi-hot rows (N, C)."""
    q, d = np.asarray(query_labels), np.asarray(database_labels)
    if q.ndim != d.ndim or q.ndim not in (1, 2):
        raise ValueError(f"query_labels {q.shape} and database_labels {d.shape}: expected both (N,) "
                         "class ids or both (N, C) multi-hot rows")
    if q.ndim == 1:
        return q[:, None] == d[None, :]
    return (q.astype(np.int64) @ d.astype(np.int64).T) > 0


def hamming_distances(query_codes, database_codes) -> np.ndarray:
    """(Q, N) int: the number of positions where two +-1 codes differ, by direct comparison."""
    q, d = np.asarray(query_codes), np.asarray(database_codes)
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise ValueError(f"query_codes {q.shape} and database_codes {d.shape}: expected (Q, K) and (N, K)")
    return (q[:, None, :] != d[None, :, :]).sum(axis=2)


def ranking(distances, relevant, tie_order: str = "index") -> np.ndarray:
    """The database indices of one query in rank order: by distance, then by ``tie_order``."""
    if tie_order not in TIE_ORDERS:
        raise ValueError(f"tie_order={tie_order!r} is invalid: expected one of {TIE_ORDERS}")
    dist, rel = np.asarray(distances), np.asarray(relevant, dtype=bool)
    index = np.arange(len(dist))
    if tie_order == "index":
        return np.lexsort((index, dist))
    tie_key = ~rel if tie_order == "relevant_first" else rel  # False sorts first
    return np.lexsort((index, tie_key, dist))


def average_precisions(query_codes, database_codes, query_labels, database_labels, topk=None,
                       empty: str = "zero", tie_order: str = "index") -> np.ndarray:
    """AP@topk of every query, float64 (Q,), by the definition; NaN where ``empty`` leaves one out.

    empty="zero": a query with nothing relevant in its top R counts 0; "skip": left out;
    "skip_unanswerable": left out only when nothing in the whole database is relevant.
    """
    if empty not in ("zero", "skip", "skip_unanswerable"):
        raise ValueError(f"empty={empty!r} is invalid: expected 'zero', 'skip' or 'skip_unanswerable'")
    dist = hamming_distances(query_codes, database_codes)
    rel = relevance(query_labels, database_labels)
    if rel.shape != dist.shape:
        raise ValueError(f"labels give a {rel.shape} relevance matrix but the codes a {dist.shape} "
                         "distance matrix: expected one label per item")
    out = np.empty(len(dist))
    for i in range(len(dist)):
        ap, n = ap_at_r(rel[i, ranking(dist[i], rel[i], tie_order)], topk)
        left_out = n == 0 and (empty == "skip" or (empty == "skip_unanswerable" and not rel[i].any()))
        out[i] = np.nan if left_out else ap
    return out


def mean_average_precision(query_codes, database_codes, query_labels, database_labels, topk=None,
                           empty: str = "zero", tie_order: str = "index") -> float:
    """The mean of :func:`average_precisions` over the queries it keeps (NaN if none)."""
    ap = average_precisions(query_codes, database_codes, query_labels, database_labels, topk, empty, tie_order)
    kept = ap[~np.isnan(ap)]
    return float(kept.mean()) if kept.size else float("nan")
