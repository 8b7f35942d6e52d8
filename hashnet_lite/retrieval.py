"""Retrieval by Hamming ranking and the paper's metrics: exact, deterministic, chunked.

The evaluation of HashNet (Sec. 4): mAP@R of the Hamming ranking, precision within Hamming
radius 2, precision-recall curves over radii, precision at k, and the HashNet+C ablation that
ranks by the continuous outputs. This module knows codes and labels only and imports nothing
else from hashnet_lite, so anyone can evaluate their own codes with it.

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
7 points (benchmarks/README.md). Quote the tie rule with every number.

Cost. With numba installed (``USE_NUMBA``), one compiled pass per query over the packed
database computes the distances by popcount; the top R then come from a counting sort over
the K + 1 possible distances of the items within a radius guessed from a sample of the
database (if the guess holds fewer than R items, all items are sorted: exact either way).
O(N + R) per query, ties by index for free, no Q x N matrix. Without numba a chunked numpy
path (stable radix argsort of the small-integer distances) gives identical answers, more
slowly. Memory beyond the inputs is bounded by ``MEMORY_BUDGET_BYTES`` per chunk of queries,
whatever Q x N is.

Inputs (numpy arrays, torch tensors on any device, nested lists) are never modified.
Search (k nearest, within a radius) is ``HammingIndex`` in hamming_index.py, also reachable
here as ``retrieval.HammingIndex``; it builds on this module, never the reverse.
"""
from __future__ import annotations

import numbers

import numpy as np

try:  # optional: the compiled kernels; the numpy path below gives the same answers
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

__all__ = [
    "MEMORY_BUDGET_BYTES", "USE_NUMBA", "pack_codes", "unpack_codes", "hamming_distance",
    "average_precisions", "mean_average_precision", "average_precisions_real",
    "mean_average_precision_real", "precision_at_k", "precision_recall_curve",
    "precision_within_radius", "HammingIndex",
]

MEMORY_BUDGET_BYTES = 256 * 2**20  # working memory per chunk of queries (read at call time)
USE_NUMBA = numba is not None  # set False to force the numpy path (same answers)

_EMPTY = ("zero", "skip", "skip_unanswerable")
_TIES = ("index", "tie_aware")
_METRICS = ("inner", "cosine", "euclidean")
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


# ----------------------------------------------------------------------------- inputs
def _to_numpy(x, name: str) -> np.ndarray:
    """A read-only view of x as numpy; torch tensors are detached and moved to the CPU."""
    if type(x).__module__.split(".")[0] == "torch":
        x = x.detach().cpu()
        try:
            return x.numpy()
        except TypeError:  # bfloat16 and friends have no numpy dtype
            return x.float().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array ({err})") from None


def _option(name: str, value, allowed: tuple) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is unknown: expected one of {', '.join(map(repr, allowed))}")
    return value


def _integer(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name}={value!r} is invalid: expected an integer >= {low}")
    return int(value)


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


def _chunks(n_rows: int, bytes_per_row: int):
    step = max(1, int(MEMORY_BUDGET_BYTES // max(1, bytes_per_row)))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


# ----------------------------------------------------------------------------- kernels
def _hamming_block(qw: np.ndarray, dw: np.ndarray) -> np.ndarray:
    """(Qc, N) distances of a small chunk of queries; int32."""
    x = qw[:, None, :] ^ dw[None, :, :]  # (Qc, N, W) uint64
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(x).sum(axis=2, dtype=np.int32)
    return _POPCOUNT8[x.view(np.uint8)].sum(axis=2, dtype=np.int32)


def _relevance_block(ql: np.ndarray, dl: np.ndarray, ids: bool) -> np.ndarray:
    """(Qc, N) bool relevance of a chunk of queries; dl may also be gathered (Qc, R, L) rows."""
    if dl.ndim == 3:  # rows gathered per query
        return dl[:, :, 0] == ql[:, :1] if ids else ((dl & ql[:, None, :]) != 0).any(axis=2)
    return ql[:, :1] == dl[None, :, 0] if ids else ((ql[:, None, :] & dl[None, :, :]) != 0).any(axis=2)


if numba is not None:
    @numba.njit(cache=True, inline="always")
    def _nb_popcount(x):  # SWAR popcount of a uint64 (LLVM vectorises it)
        x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
        x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
        x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)

    @numba.njit(cache=True, inline="always")
    def _nb_distances(qw, i, dw, dist):
        # word by word over the whole database: a loop LLVM vectorises
        dist[:] = 0
        for w in range(qw.shape[1]):
            qv = qw[i, w]
            for j in range(dw.shape[0]):
                dist[j] += np.uint16(_nb_popcount(qv ^ dw[j, w]))

    @numba.njit(cache=True, inline="always")
    def _nb_relevant(ql, i, dl, j, ids):
        if ids:
            return ql[i, 0] == dl[j, 0]
        for w in range(ql.shape[1]):
            if ql[i, w] & dl[j, w]:
                return True
        return False

    @numba.njit(parallel=True, cache=True)
    def _nb_topk(qw, dw, k, out_d, out_i):
        n, kmax, block = dw.shape[0], 64 * qw.shape[1], 16
        stride = max(1, n // 8192)
        for b in numba.prange((qw.shape[0] + block - 1) // block):
            dist = np.empty(n, np.uint16)  # buffers reused by the block's queries
            cand = np.empty(n, np.int64)
            for i in range(b * block, min(qw.shape[0], (b + 1) * block)):
                _nb_distances(qw, i, dw, dist)
                # guess a radius holding a little more than k items from a sample of ~8k,
                # so that only the items within it are histogrammed and sorted
                hist = np.zeros(kmax + 1, np.int64)
                for j in range(0, n, stride):
                    hist[dist[j]] += 1
                want = 1.2 * k * ((n + stride - 1) // stride) / n + 16
                total, guess = 0, kmax
                for d in range(kmax + 1):
                    total += hist[d]
                    if total >= want:
                        guess = d
                        break
                m = 0
                for j in range(n):  # the candidates, in index order
                    if dist[j] <= guess:
                        cand[m] = j
                        m += 1
                if m < k:  # the sample misled us: take every item (exact either way)
                    m = n
                    for j in range(n):
                        cand[j] = j
                # counting sort of the candidates restricted to the top k: where each
                # distance group starts, and `cut`, the distance of the k-th item, of whose
                # group only `room` items fit
                hist[:] = 0
                for c in range(m):
                    hist[dist[cand[c]]] += 1
                start = np.zeros(kmax + 1, np.int64)
                total, cut = 0, kmax
                for d in range(kmax + 1):
                    start[d] = total
                    total += hist[d]
                    if total >= k:
                        cut = d
                        break
                room, placed = k - start[cut], 0
                for c in range(m):  # in index order, so ties come out by index (a stable sort)
                    j = cand[c]
                    d = dist[j]
                    if d <= cut:
                        if d == cut:
                            if room == 0:
                                continue
                            room -= 1
                        p = start[d]
                        start[d] = p + 1
                        out_d[i, p] = d
                        out_i[i, p] = j
                        placed += 1
                        if placed == k:
                            break

    @numba.njit(parallel=True, cache=True)
    def _nb_ap_sums(ql, dl, ids, idx, ap_sum, n_rel):
        for i in numba.prange(idx.shape[0]):
            hits, total = 0, 0.0
            for t in range(idx.shape[1]):
                if _nb_relevant(ql, i, dl, idx[i, t], ids):
                    hits += 1
                    total += hits / (t + 1)
            ap_sum[i], n_rel[i] = total, hits

    @numba.njit(parallel=True, cache=True)
    def _nb_histograms(qw, dw, ql, dl, ids, counts, relevant):
        block = 16
        for b in numba.prange((qw.shape[0] + block - 1) // block):
            dist = np.empty(dw.shape[0], np.uint16)
            for i in range(b * block, min(qw.shape[0], (b + 1) * block)):
                _nb_distances(qw, i, dw, dist)
                for j in range(dw.shape[0]):
                    counts[i, dist[j]] += 1
                    if _nb_relevant(ql, i, dl, j, ids):
                        relevant[i, dist[j]] += 1


def _use_numba(words: np.ndarray) -> bool:
    # the kernels keep distances in uint16: codes up to 65,535 bits
    return USE_NUMBA and numba is not None and 64 * words.shape[1] <= 65535


def _run_parallel(kernel, *args) -> None:
    # hand blocks of queries to the threads one at a time rather than in equal halves, so a
    # thread slowed by other work on the machine does not hold the others back
    if not hasattr(numba, "parallel_chunksize"):  # numba < 0.57: equal halves
        return kernel(*args)
    with numba.parallel_chunksize(1):
        kernel(*args)


def _topk(qw: np.ndarray, dw: np.ndarray, k: int):
    """The k nearest by (distance, index): distances int32 (Q, k), indices int64 (Q, k)."""
    out_d, out_i = np.empty((qw.shape[0], k), np.int32), np.empty((qw.shape[0], k), np.int64)
    if _use_numba(qw):
        _run_parallel(_nb_topk, qw, dw, k, out_d, out_i)
        return out_d, out_i
    n, small = dw.shape[0], np.uint8 if 64 * qw.shape[1] < 256 else np.uint16
    for rows in _chunks(qw.shape[0], n * (10 * qw.shape[1] + 16)):
        dist = _hamming_block(qw[rows], dw).astype(small)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]  # radix sort; stable = ties by index
        out_i[rows], out_d[rows] = order, np.take_along_axis(dist, order, axis=1)
    return out_d, out_i


def _histograms(qw, dw, ql, dl, ids: bool, bits: int):
    """counts[q, d] = items at distance d, relevant[q, d] = relevant ones among them; (Q, K + 1)."""
    counts = np.zeros((qw.shape[0], bits + 1), np.int64)
    relevant = np.zeros_like(counts)
    if _use_numba(qw):
        _run_parallel(_nb_histograms, qw, dw, ql, dl, ids, counts, relevant)
        return counts, relevant
    n = dw.shape[0]
    for rows in _chunks(qw.shape[0], n * (10 * max(qw.shape[1], ql.shape[1]) + 16)):
        key = _hamming_block(qw[rows], dw) + (bits + 1) * np.arange(rows.stop - rows.start, dtype=np.int64)[:, None]
        size = (rows.stop - rows.start) * (bits + 1)
        counts[rows] = np.bincount(key.ravel(), minlength=size).reshape(-1, bits + 1)
        rel = _relevance_block(ql[rows], dl, ids)
        relevant[rows] = np.bincount(key[rel], minlength=size).reshape(-1, bits + 1)
    return counts, relevant


def _relevant_totals(ql: np.ndarray, dl: np.ndarray, ids: bool) -> np.ndarray:
    """Number of relevant database items per query, via the distinct label rows of the database."""
    patterns, weight = np.unique(dl, axis=0, return_counts=True)
    totals = np.empty(ql.shape[0], np.int64)
    for rows in _chunks(ql.shape[0], patterns.shape[0] * (9 * ql.shape[1] + 1)):
        totals[rows] = _relevance_block(ql[rows], patterns, ids).astype(np.int64) @ weight
    return totals


# ----------------------------------------------------------------------------- AP
def _ap_sums(rel: np.ndarray):
    """For (Qc, R) relevance in rank order: sum over relevant k of hits@k / k, and n_q."""
    hits = np.cumsum(rel, axis=1, dtype=np.int64)
    precision = hits / np.arange(1, rel.shape[1] + 1)
    return np.where(rel, precision, 0.0).sum(axis=1), hits[:, -1]


def _index_ap(qw, dw, ql, dl, ids: bool, R: int):
    ap_sum, n_rel = np.empty(qw.shape[0]), np.empty(qw.shape[0], np.int64)
    for rows in _chunks(qw.shape[0], R * (40 + 8 * ql.shape[1])):
        _, idx = _topk(qw[rows], dw, R)
        if _use_numba(qw):
            _nb_ap_sums(ql[rows], dl, ids, idx, ap_sum[rows], n_rel[rows])
        else:
            ap_sum[rows], n_rel[rows] = _ap_sums(_relevance_block(ql[rows], dl[idx], ids))
    return ap_sum, n_rel


def _tie_aware_ap(counts: np.ndarray, relevant: np.ndarray, R: int):
    """Exact E[AP@R] over uniformly random orders inside every tie (empty lists count 0) and
    P(the top R holds a relevant item).

    He et al. (CVPR 2018): in a tie of n items with p relevant that starts after L items
    of which A are relevant, position t (L < t <= L + n) is relevant with probability p / n and,
    given that, expects A + 1 + (t - L - 1) (p - 1) / (n - 1) hits in the top t. Summing over t
    with harmonic numbers H gives the tie's contribution

        (p / n) [ (A + 1) (H(L + n) - H(L)) + (p - 1) / (n - 1) (n - (L + 1) (H(L + n) - H(L))) ].

    Ties wholly inside the top R add that. Of the tie holding rank R only m = R - L items are
    kept; the number X of relevant ones among them is hypergeometric (n, p, m), the same formula
    with (n, p) -> (m, X) gives their contribution, and AP@R = (sum of contributions) / (A + X).
    The expectation over X is exact, so with topk=None this is He et al.'s tie-aware AP.
    """
    nq, width = counts.shape
    n_items = int(counts[0].sum())
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n_items + 1))])
    before = np.cumsum(counts, axis=1) - counts  # L: items strictly closer
    rel_before = np.cumsum(relevant, axis=1) - relevant  # A
    cut = np.argmax(before + counts >= R, axis=1)  # the distance of rank R
    n, p, L, A = counts, relevant, before, rel_before
    dh = harmonic[L + n] - harmonic[L]
    slope = np.where(n > 1, (p - 1) / np.maximum(n - 1, 1), 0.0)
    inside = np.arange(width)[None, :] < cut[:, None]
    full = np.where(inside & (n > 0), p / np.maximum(n, 1) * ((A + 1) * dh + slope * (n - (L + 1) * dh)), 0.0).sum(1)

    rows = np.arange(nq)
    n, p, L, A = counts[rows, cut], relevant[rows, cut], before[rows, cut], rel_before[rows, cut]
    m = R - L
    lo, hi = np.maximum(0, m - (n - p)), np.minimum(m, p)
    dh = harmonic[L + m] - harmonic[L]
    t1, t2 = (A + 1) * dh, m - (L + 1) * dh
    expected, nonempty = np.empty(nq), np.empty(nq)
    grid = int((hi - lo).max()) + 1
    for c in _chunks(nq, 80 * grid):
        x = lo[c, None] + np.arange(grid)[None, :]  # (Qc, grid) candidate values of X
        valid = x <= hi[c, None]
        # hypergeometric weights by the ratio P(x + 1) / P(x), in logs, normalised at the end
        with np.errstate(divide="ignore", invalid="ignore"):
            step = (np.log(p[c, None] - x) + np.log(m[c, None] - x) - np.log(x + 1.0)
                    - np.log(n[c, None] - p[c, None] - m[c, None] + x + 1.0))
        step = np.where(x < hi[c, None], step, 0.0)
        logw = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(step[:, :-1], axis=1)], axis=1)
        w = np.where(valid, np.exp(logw - np.where(valid, logw, -np.inf).max(1, keepdims=True)), 0.0)
        w /= w.sum(1, keepdims=True)
        mc = m[c, None]
        sub = x / mc * (t1[c, None] + np.where(mc > 1, (x - 1) / np.maximum(mc - 1, 1), 0.0) * t2[c, None])
        hits = A[c, None] + x
        ap = np.where(hits > 0, (full[c, None] + sub) / np.maximum(hits, 1), 0.0)
        expected[c] = (w * ap).sum(1)
        nonempty[c] = (w * (hits > 0)).sum(1)
    return expected, nonempty


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
    return ap


def _mean(ap: np.ndarray) -> float:
    kept = ap[~np.isnan(ap)]
    return float(kept.mean()) if kept.size else float("nan")


def mean_average_precision(query_codes, database_codes, query_labels, database_labels, topk=None,
                           empty: str = "zero", ties: str = "index") -> float:
    """mAP@topk of the Hamming ranking (the paper's headline metric), a Python float.

    The mean of :func:`average_precisions` over the queries it keeps; NaN if it keeps none.
    ImageNet-100 uses topk=1000, NUS-WIDE and MS-COCO topk=5000, CIFAR-10 topk=None.
    """
    return _mean(average_precisions(query_codes, database_codes, query_labels, database_labels,
                                    topk=topk, empty=empty, ties=ties))


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
    """AP@topk per query when ranking by real vectors (the HashNet+C ablation); float64 (Q,).

    metric="inner": descending <q, x>; "cosine": descending cosine (zero vectors score 0);
    "euclidean": ascending ||q - x||, computed as descending 2 <q, x> - ||x||^2 (||q|| is the same
    for every x). Scores are float64; exactly equal scores are ordered by database index. With
    +-1 codes and metric="inner" this equals :func:`average_precisions` with ties="index".
    ``empty`` as in :func:`average_precisions`.
    """
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
    return ap


def mean_average_precision_real(query_vectors, database_vectors, query_labels, database_labels, topk=None,
                                empty: str = "zero", metric: str = "inner") -> float:
    """mAP@topk ranking by real vectors (HashNet+C); the mean of :func:`average_precisions_real`."""
    return _mean(average_precisions_real(query_vectors, database_vectors, query_labels, database_labels,
                                         topk=topk, empty=empty, metric=metric))


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


def __getattr__(name: str):
    # HammingIndex lives in hamming_index.py (it builds on this module, never the reverse);
    # it is imported on first use so that this module stays importable on its own.
    if name == "HammingIndex":
        from .hamming_index import HammingIndex
        return HammingIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
