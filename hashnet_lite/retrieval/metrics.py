"""Retrieval by Hamming ranking and the paper's metrics: exact, deterministic, chunked.

The evaluation of HashNet (Sec. 4): mAP@R of the Hamming ranking, precision within Hamming
radius 2, precision-recall curves over radii, precision at k, and the HashNet-nobin ablation that
ranks by the continuous outputs. This module knows codes and labels only and imports nothing
else from hashnet_lite but its argument checks, so anyone can evaluate their own codes with it.

Ranking. For a query q the database is sorted by Hamming distance d(q, x) (the number of
bits that differ; with +-1 codes d = (K - <q, x>) / 2), ascending. Items at the same distance
form a *tie*. ``ties="index"`` orders a tie by database index, so every number is
reproducible; ``ties="tie_aware"`` gives the exact expectation over all orders inside the
ties (He, Cakir, Bargal, Sclaroff, "Hashing as Tie-Aware Learning to Rank", CVPR 2018).

Relevance. x is relevant to q when they share at least one label: labels are 1-D class ids
(relevant = same class) or 2-D 0/1 multi-hot rows (relevant = dot product > 0); an all-zero
row is relevant to nothing. Query and database labels must take the same form.

AP@R. Keep the top R = ``topk`` items (None: the whole database, mAP@all); with rel_k = 1
when the k-th item is relevant and n_q = sum_{k <= R} rel_k,

    AP@R(q) = (1 / n_q) * sum_{k <= R, rel_k = 1} (hits in the top k) / k,

the mean precision at the relevant positions. The field disagrees on queries with n_q = 0:

    empty="zero"               AP = 0, in the mean           DeepHash-pytorch's CalcTopMap
                                                              (the popular re-implementation)
    empty="skip"               left out of the mean          the authors' PyTorch evaluation
    empty="skip_unanswerable"  left out only when no database item at all is relevant,
                               else AP = 0                    the authors' Caffe evaluation

Those implementations order a tie by an unstable argsort, an order with no meaning. At
ImageNet-100 size (64 bits, R = 1000) the tie that holds rank R has hundreds of items, and
putting the relevant items first rather than last inside the ties moves mAP@1000 by about
7 points (docs/conventions.md). Quote the tie rule with every number.

Cost. With numba installed (``USE_NUMBA``), one compiled pass per query over the packed
database computes the distances by popcount and keeps the items within a radius guessed from
a sample of the database (shrinking it once R kept items lie below it); the top R then come
from a counting sort of the kept items over the K + 1 possible distances (if the guess holds
fewer than R items, a second pass keeps every item: exact either way).
O(N + R) per query, ties by index for free, no Q x N matrix. Without numba a chunked numpy
path (stable radix argsort of the small-integer distances) gives identical answers, more
slowly. Memory beyond the inputs is bounded by ``MEMORY_BUDGET_BYTES`` per chunk of queries,
whatever Q x N is.

Inputs (numpy arrays, torch tensors on any device, nested lists) are never modified.
Search (k nearest, within a radius) is ``HammingIndex`` in index.py; the kernels all of them
share are in kernels.py, and reference.py holds the plain, loop-by-loop AP they are tested
against.
"""
from __future__ import annotations
from __future__ import annotations

import numbers
import warnings

import numpy as np

from ._inputs import _code_bits, _codes, _integer, _labels, _option, _to_numpy, _topk_arg
from .kernels import (_ap_sums, _chunks, _hamming_block, _histograms, _index_ap, _relevance_block,
                      _relevant_totals, _tie_aware_ap, _topk)

_EMPTY = ("zero", "skip", "skip_unanswerable")


class UndefinedMetricWarning(UserWarning):
    """Queries with no relevant item in the whole database: their AP is undefined, and the
    ``empty`` convention decides what they count (as scikit-learn's warning of that name)."""


_WHAT_EMPTY_DID = {"zero": "they count as AP 0 (empty='zero')",
                   "skip": "they are left out of the mean (empty='skip')",
                   "skip_unanswerable": "they are left out of the mean (empty='skip_unanswerable')"}


def _count_unanswerable(ql: np.ndarray, dl: np.ndarray, ids: bool) -> int:
    """Queries that share no label with any database item (O(Q L + N L), no ranking)."""
    if ids:
        return int((~np.isin(ql[:, 0], dl[:, 0])).sum())
    present = np.bitwise_or.reduce(dl, axis=0) if dl.shape[0] else np.zeros(dl.shape[1], dl.dtype)
    return int((~((ql & present) != 0).any(axis=1)).sum())


def _warn_unanswerable(n: int, total: int, empty: str) -> None:
    if n:
        warnings.warn(f"{n} of {total} queries have no relevant item in the database, so their AP is "
                      f"undefined: {_WHAT_EMPTY_DID[empty]}", UndefinedMetricWarning, stacklevel=3)
_TIES = ("index", "tie_aware")
_METRICS = ("inner", "cosine", "euclidean")


def average_precisions(query_codes, database_codes, query_labels, database_labels, topk=None,
                       empty: str = "zero", ties: str = "index") -> np.ndarray:
    """AP@topk of every query, float64 (Q,); NaN where a query is left out (see ``empty``).

    ties="index": the ranking is (distance, database index), deterministic.
    ties="tie_aware": the exact expected AP over uniformly random orders inside each tie
    (He et al., CVPR 2018), extended exactly to a cut inside a tie. With it, empty="skip"
    averages over the orders whose top list holds a relevant item (the conditional
    expectation) and leaves a query out only when none does; "zero" counts empty lists as 0.
    See the module docstring for ``empty`` and the conventions of other implementations.
    """
    return _average_precisions(query_codes, database_codes, query_labels, database_labels, topk, empty, ties)[0]


def _average_precisions(query_codes, database_codes, query_labels, database_labels, topk, empty, ties):
    """(AP per query, number of unanswerable queries)."""
    _option("empty", empty, _EMPTY)
    _option("ties", ties, _TIES)
    _topk_arg(topk)  # options first: bad input fails before any work
    qw, dw, bits = _codes(query_codes, database_codes)
    ql, dl, ids = _labels(query_labels, database_labels, qw.shape[0], dw.shape[0])
    R = _topk_arg(topk, dw.shape[0])
    if ties == "index":
        ap_sum, n_rel = _index_ap(qw, dw, ql, dl, ids, R)
        ap = np.divide(ap_sum, n_rel, out=np.zeros(len(ap_sum)), where=n_rel > 0)
        nonempty = (n_rel > 0).astype(np.float64)
    else:
        ap, nonempty = _tie_aware_ap(*_histograms(qw, dw, ql, dl, ids, bits), R)
    if empty == "skip":
        ap = np.divide(ap, nonempty, out=np.full(len(ap), np.nan), where=nonempty > 0)
    elif empty == "skip_unanswerable":
        ap = np.where(_relevant_totals(ql, dl, ids) > 0, ap, np.nan)
    return ap, _count_unanswerable(ql, dl, ids)


def _mean(ap: np.ndarray) -> float:
    kept = ap[~np.isnan(ap)]
    return float(kept.mean()) if kept.size else float("nan")


def mean_average_precision(query_codes, database_codes, query_labels, database_labels, topk=None,
                           empty: str = "zero", ties: str = "index") -> float:
    """mAP@topk of the Hamming ranking (the paper's headline metric), a Python float.

    The mean of :func:`average_precisions` over the queries it keeps; NaN if it keeps none.
    ImageNet-100 uses topk=1000, NUS-WIDE and MS-COCO topk=5000, CIFAR-10 topk=None.
    Queries with no relevant item in the whole database draw an ``UndefinedMetricWarning``
    that counts them and says what ``empty`` did with them.
    """
    ap, unanswerable = _average_precisions(query_codes, database_codes, query_labels, database_labels,
                                           topk, empty, ties)
    _warn_unanswerable(unanswerable, len(ap), empty)
    return _mean(ap)


# ----------------------------------------------------------------------------- real-valued
def _vectors(x, name: str) -> np.ndarray:
    a = _to_numpy(x, name)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} has shape {a.shape}: expected (N, D) vectors with N >= 1 and D >= 1")
    if a.dtype.kind not in "iuf" or not np.isfinite(a).all():
        raise ValueError(f"{name} (dtype {a.dtype}) must hold finite real numbers")
    return a.astype(np.float64)


def _top_by_score(scores: np.ndarray, R: int) -> np.ndarray:
    """Indices (Qc, R) of the R highest scores per row, by (score descending, index)."""
    nq, n = scores.shape
    if R < n:
        part = np.argpartition(scores, n - R, axis=1)[:, n - R:]  # the top R as a set, any tie order
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)  # the R-th score
        keep = scores >= kth
        for row in np.flatnonzero(keep.sum(axis=1) > R):  # a tie straddles the cut: lowest indices
            tie = scores[row] == kth[row]
            keep[row] = (scores[row] > kth[row]) | (tie & (np.cumsum(tie) <= R - (scores[row] > kth[row]).sum()))
        idx = np.nonzero(keep)[1].reshape(nq, R)  # row-major, so in index order
    else:
        idx = np.broadcast_to(np.arange(n), (nq, n))
    order = np.argsort(-np.take_along_axis(scores, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


def average_precisions_real(query_vectors, database_vectors, query_labels, database_labels, topk=None,
                            empty: str = "zero", metric: str = "inner") -> np.ndarray:
    """AP@topk per query when ranking by real vectors (the HashNet-nobin ablation); float64 (Q,).

    metric="inner": descending <q, x>; "cosine": descending cosine (zero vectors score 0);
    "euclidean": ascending ||q - x||, computed as descending 2 <q, x> - ||x||^2 (||q|| is the same
    for every x). Scores are float64; exactly equal scores are ordered by database index. With
    +-1 codes and metric="inner" this equals :func:`average_precisions` with ties="index".
    ``empty`` as in :func:`average_precisions`.
    """
    return _average_precisions_real(query_vectors, database_vectors, query_labels, database_labels, topk,
                                    empty, metric)[0]


def _average_precisions_real(query_vectors, database_vectors, query_labels, database_labels, topk, empty, metric):
    """(AP per query, number of unanswerable queries)."""
    _option("empty", empty, _EMPTY)
    _option("metric", metric, _METRICS)
    _topk_arg(topk)
    q, d = _vectors(query_vectors, "query_vectors"), _vectors(database_vectors, "database_vectors")
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"query_vectors has {q.shape[1]} dimensions but database_vectors has {d.shape[1]}")
    ql, dl, ids = _labels(query_labels, database_labels, q.shape[0], d.shape[0])
    R = _topk_arg(topk, d.shape[0])
    if metric == "cosine":
        q, d = (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), np.finfo(float).tiny) for v in (q, d))
    offset = -(d * d).sum(1) if metric == "euclidean" else 0.0
    scale = 2.0 if metric == "euclidean" else 1.0
    ap = np.empty(q.shape[0])
    nonempty = np.empty(q.shape[0], bool)
    for rows in _chunks(q.shape[0], 48 * d.shape[0] + R * (40 + 8 * ql.shape[1])):
        idx = _top_by_score(scale * (q[rows] @ d.T) + offset, R)
        ap_sum, n_rel = _ap_sums(_relevance_block(ql[rows], dl[idx], ids))
        ap[rows] = np.divide(ap_sum, n_rel, out=np.zeros(len(n_rel)), where=n_rel > 0)
        nonempty[rows] = n_rel > 0
    if empty == "skip":
        ap[~nonempty] = np.nan
    elif empty == "skip_unanswerable":
        ap[_relevant_totals(ql, dl, ids) == 0] = np.nan
    return ap, _count_unanswerable(ql, dl, ids)


def mean_average_precision_real(query_vectors, database_vectors, query_labels, database_labels, topk=None,
                                empty: str = "zero", metric: str = "inner") -> float:
    """mAP@topk ranking by real vectors (HashNet-nobin); the mean of :func:`average_precisions_real`
    (with the same ``UndefinedMetricWarning`` as :func:`mean_average_precision`)."""
    ap, unanswerable = _average_precisions_real(query_vectors, database_vectors, query_labels, database_labels,
                                                topk, empty, metric)
    _warn_unanswerable(unanswerable, len(ap), empty)
    return _mean(ap)


# ----------------------------------------------------------------------------- other metrics
def precision_at_k(query_codes, database_codes, query_labels, database_labels, ks, ties: str = "index"):
    """Mean over queries of (relevant items in the top k) / k, for each k in ``ks``.

    ``ks``: an int (returns a float) or a sequence of ints (returns float64 (len(ks),)),
    each 1 <= k <= database size. ties="index" ranks by (distance, index); "tie_aware" gives
    the expectation over orders inside the tie at the cut: A + (k - L) p / n hits.
    """
    _option("ties", ties, _TIES)
    scalar = isinstance(ks, numbers.Integral) and not isinstance(ks, bool)
    ks_list = [ks] if scalar else list(np.asarray(_to_numpy(ks, "ks")).ravel())
    if not ks_list:
        raise ValueError("ks is empty: expected an int or a sequence of ints")
    ks_list = [_integer("ks", k, 1) for k in ks_list]
    qw, dw, bits = _codes(query_codes, database_codes)
    ql, dl, ids = _labels(query_labels, database_labels, qw.shape[0], dw.shape[0])
    if max(ks_list) > dw.shape[0]:
        raise ValueError(f"ks holds {max(ks_list)}, more than the {dw.shape[0]} database items")
    if ties == "index":
        hits = np.empty((qw.shape[0], len(ks_list)))
        R = max(ks_list)
        for rows in _chunks(qw.shape[0], R * (30 + 8 * ql.shape[1])):
            _, idx = _topk(qw[rows], dw, R)
            cum = np.cumsum(_relevance_block(ql[rows], dl[idx], ids), axis=1)
            hits[rows] = cum[:, np.array(ks_list) - 1]
    else:
        counts, relevant = _histograms(qw, dw, ql, dl, ids, bits)
        upto, rel_upto = np.cumsum(counts, axis=1), np.cumsum(relevant, axis=1)
        rows = np.arange(qw.shape[0])
        hits = np.empty((qw.shape[0], len(ks_list)))
        for col, k in enumerate(ks_list):
            cut = np.argmax(upto >= k, axis=1)
            L, A = upto[rows, cut] - counts[rows, cut], rel_upto[rows, cut] - relevant[rows, cut]
            hits[:, col] = A + (k - L) * relevant[rows, cut] / counts[rows, cut]
    out = (hits / np.array(ks_list)).mean(axis=0)
    return float(out[0]) if scalar else out


def _radius_stats(query_codes, database_codes, query_labels, database_labels):
    """Per query and radius r = 0..K: items retrieved (d <= r), relevant ones among them."""
    qw, dw, bits = _codes(query_codes, database_codes)
    ql, dl, ids = _labels(query_labels, database_labels, qw.shape[0], dw.shape[0])
    counts, relevant = _histograms(qw, dw, ql, dl, ids, bits)
    return np.cumsum(counts, axis=1), np.cumsum(relevant, axis=1)


def precision_recall_curve(query_codes, database_codes, query_labels, database_labels, average: str = "macro"):
    """Precision and recall of Hamming-ball retrieval at radius r = 0..K: float64 (K + 1,) each.

    At radius r the retrieved set is every item with d <= r (a set, so the tie rule plays no
    part). average="macro" (default): per query, then the mean over queries; a query that
    retrieves nothing has precision 0 (as in the usual "precision within radius 2"), and
    recall is averaged over the queries with at least one relevant database item (recall is
    undefined for the others; NaN if there are none). average="micro": pooled over queries,
    precision = sum(relevant retrieved) / sum(retrieved) (0 when nothing is retrieved), recall
    = sum(relevant retrieved) / sum(relevant).
    """
    _option("average", average, ("macro", "micro"))
    retrieved, hits = _radius_stats(query_codes, database_codes, query_labels, database_labels)
    totals = hits[:, -1]
    if average == "macro":
        precision = np.divide(hits, retrieved, out=np.zeros(hits.shape), where=retrieved > 0).mean(0)
        answerable = totals > 0
        recall = (hits[answerable] / totals[answerable, None]).mean(0) if answerable.any() else np.full(hits.shape[1], np.nan)
        return precision, recall
    pooled_retrieved, pooled_hits = retrieved.sum(0), hits.sum(0).astype(np.float64)
    precision = np.divide(pooled_hits, pooled_retrieved, out=np.zeros(len(pooled_hits)), where=pooled_retrieved > 0)
    recall = pooled_hits / totals.sum() if totals.sum() > 0 else np.full(len(pooled_hits), np.nan)
    return precision, recall


def precision_within_radius(query_codes, database_codes, query_labels, database_labels, r: int = 2,
                            empty: str = "zero") -> float:
    """Mean precision of the items within Hamming radius r (d <= r) of each query (Fig. 2 of the paper: r = 2).

    empty="zero" (default, the usual convention): a query with nothing within the radius has
    precision 0, which penalises long codes whose Hamming balls are empty; empty="skip"
    averages only over the queries that retrieve something (NaN if none does).
    """
    r = _integer("r", r, 0)
    _option("empty", empty, ("zero", "skip"))
    retrieved, hits = _radius_stats(query_codes, database_codes, query_labels, database_labels)
    col = min(r, retrieved.shape[1] - 1)
    got, rel = retrieved[:, col], hits[:, col]
    precision = np.divide(rel, got, out=np.zeros(len(got)), where=got > 0)
    if empty == "skip":
        return float(precision[got > 0].mean()) if (got > 0).any() else float("nan")
    return float(precision.mean())


# ----------------------------------------------------------------------------- codes
def pack_codes(codes) -> np.ndarray:
    """+-1 codes (N, K) -> packed bits uint8 (N, ceil(K / 8)): +1 -> 1, -1 -> 0.

    Bit k of an item goes to byte k // 8, most significant bit first (``np.packbits``'s
    order); the padding bits of the last byte are 0. faiss's binary indexes take this format.
    """
    return np.packbits(_code_bits(codes, "codes"), axis=1)


def unpack_codes(packed, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: uint8 (N, ceil(bits / 8)) -> +-1 codes int8 (N, bits)."""
    p = _to_numpy(packed, "packed")
    bits = _integer("bits", bits, 1)
    if p.ndim != 2 or p.dtype != np.uint8:
        raise ValueError(f"packed has shape {p.shape} and dtype {p.dtype}: expected (N, B) uint8")
    if p.shape[1] != -(-bits // 8):
        raise ValueError(f"packed has {p.shape[1]} bytes per item but bits={bits} needs {-(-bits // 8)}")
    return np.where(np.unpackbits(p, axis=1, count=bits).astype(bool), 1, -1).astype(np.int8)


def hamming_distance(query_codes, database_codes) -> np.ndarray:
    """All pairwise Hamming distances, int32 (Q, N); equal to (K - query @ database.T) / 2.

    The full matrix takes 4 Q N bytes; for mAP and search use the functions above or
    :class:`HammingIndex`, which never build it.
    """
    qw, dw, _ = _codes(query_codes, database_codes)
    out = np.empty((qw.shape[0], dw.shape[0]), np.int32)
    for rows in _chunks(qw.shape[0], dw.shape[0] * (9 * qw.shape[1] + 4)):
        out[rows] = _hamming_block(qw[rows], dw)
    return out

