"""The kernels behind the metrics: Hamming distances by popcount, top-k by counting sort,
distance histograms, and the sums that make AP (index order and tie-aware).

With numba installed (``USE_NUMBA``) one compiled pass per query over the packed database
computes the distances and, for the top k, keeps the items within a radius guessed from a
sample of ``SAMPLE`` items; without numba a chunked numpy path gives identical answers, more
slowly. Memory beyond the inputs is bounded by ``MEMORY_BUDGET_BYTES`` per chunk of queries.
``USE_NUMBA`` and ``MEMORY_BUDGET_BYTES`` are read at call time, so a test or a benchmark can
switch them; ``SAMPLE`` and ``TILE`` are compiled into the kernels.
"""
from __future__ import annotations

import numpy as np

try:  # optional: the compiled kernels; the numpy path below gives the same answers
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

MEMORY_BUDGET_BYTES = 256 * 2**20  # working memory per chunk of queries (read at call time)
USE_NUMBA = numba is not None  # set False to force the numpy path (same answers)
SAMPLE = 4096  # items whose distances guess the radius of the top k (numba path)
TILE = 1024  # items per tile of the numba scan: their distances stay in the L1 cache

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_LOWEST_BIT = np.array([0] + [(x & -x).bit_length() - 1 for x in range(1, 256)], np.int64)  # of a byte


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

    @numba.njit(cache=True)
    def _nb_guess_radius(qw, i, dw, k, hist):
        # a radius likely to hold a little more than k items, from the distances of every
        # stride-th item (about SAMPLE of them); a guess only, which _nb_topk checks
        n, kmax = dw.shape[0], hist.shape[0] - 1
        stride = max(1, n // SAMPLE)
        hist[:] = 0
        for j in range(0, n, stride):
            dist = np.uint64(0)
            for w in range(qw.shape[1]):
                dist += _nb_popcount(qw[i, w] ^ dw[j, w])
            hist[dist] += 1
        want = 1.1 * k * ((n + stride - 1) // stride) / n + 4
        total = 0
        for d in range(kmax + 1):
            total += hist[d]
            if total >= want:
                return d
        return kmax

    @numba.njit(cache=True)
    def _nb_within(qw, i, dw, radius, k, tile, flag, glist, hist, cand, cand_d):
        """One pass over the database: every item with distance <= the final radius, in index
        order, into cand (indices) and cand_d (distances), with hist[d] = how many of the kept
        items lie at distance d; returns (items kept, the final radius).

        Tile by tile (TILE items, sliced so that LLVM vectorises the loops over them): their
        distances, then in a second loop a flag for those within the radius, then the groups
        of 8 items holding a flag (one uint64 of flags each), listed without a branch, then
        the flagged items of those groups. The items within the radius are few and scattered,
        so a branch per item or per group would be mispredicted at each of them. The radius
        only shrinks: once the kept items at distance < radius number k or more, the k
        nearest all lie below it, and so do those among the items still to come.
        """
        n, words = dw.shape[0], qw.shape[1]
        flags = flag.view(np.uint64)
        m, within = 0, 0
        hist[:] = 0
        for s in range(0, n, TILE):
            block = dw[s:s + TILE]
            size = block.shape[0]
            qv = qw[i, 0]
            for t in range(size):
                tile[t] = np.uint16(_nb_popcount(qv ^ block[t, 0]))
            for w in range(1, words):
                qv = qw[i, w]
                for t in range(size):
                    tile[t] += np.uint16(_nb_popcount(qv ^ block[t, w]))
            r = np.uint16(radius)
            for t in range(size):
                flag[t] = tile[t] <= r
            if size < TILE:  # the last tile: no stale flags past its end
                flag[size:] = 0
            groups = 0
            for g in range(flags.shape[0]):
                glist[groups] = g
                groups += flags[g] != 0
            kept = m
            for c in range(groups):
                g = glist[c]
                # the group's 8 flag bytes (each 0 or 1) gathered into the bits of one byte
                mask = ((flags[g] * np.uint64(0x0102040810204080)) >> np.uint64(56)) & np.uint64(255)
                while mask:  # its flagged items, lowest first: most groups hold one
                    t = 8 * g + _LOWEST_BIT[mask]
                    cand[m] = s + t
                    cand_d[m] = tile[t]
                    m += 1
                    mask &= mask - np.uint64(1)
            for c in range(kept, m):
                hist[cand_d[c]] += 1
            within += m - kept
            while radius > 0 and within - hist[radius] >= k:
                within -= hist[radius]
                radius -= 1
        return m, radius

    @numba.njit(parallel=True, cache=True)
    def _nb_topk(qw, dw, k, out_d, out_i):
        n, kmax, block = dw.shape[0], 64 * qw.shape[1], 16
        for b in numba.prange((qw.shape[0] + block - 1) // block):
            tile = np.empty(TILE, np.uint16)  # buffers reused by the block's queries
            flag = np.zeros(TILE, np.uint8)
            glist = np.empty(TILE // 8, np.int64)
            cand = np.empty(n, np.int64)
            cand_d = np.empty(n, np.uint16)
            hist = np.zeros(kmax + 1, np.int64)
            start = np.zeros(kmax + 1, np.int64)
            top_i = np.empty(k + 1, np.int64)  # the top k, and a place past the end
            top_d = np.empty(k + 1, np.uint16)
            for i in range(b * block, min(qw.shape[0], (b + 1) * block)):
                guess = _nb_guess_radius(qw, i, dw, k, hist)
                m, radius = _nb_within(qw, i, dw, guess, k, tile, flag, glist, hist, cand, cand_d)
                if m < k:  # the sample misled us: fewer than k items within the guess
                    m, radius = _nb_within(qw, i, dw, kmax, k, tile, flag, glist, hist, cand, cand_d)
                # counting sort of the kept items restricted to the top k: where each
                # distance group starts, and `cut`, the distance of the k-th item, of whose
                # group only `room` items fit
                total, cut = 0, radius
                for d in range(radius + 1):
                    start[d] = total
                    total += hist[d]
                    if total >= k:
                        cut = d
                        break
                # in index order, so ties come out by index (a stable sort), and without a
                # branch per item: an item left out (beyond the cut, or in its group once
                # `room` is spent) is still written, at the next free place of the cut's group,
                # which a later item of that group overwrites, or at k, past the end
                room = k - start[cut]
                for c in range(m):
                    d = cand_d[c]
                    group = min(d, cut)
                    take = (d < cut) | ((d == cut) & (room > 0))
                    room -= (d == cut) & take
                    p = start[group]
                    top_i[p] = cand[c]
                    top_d[p] = d
                    start[group] = p + take
                out_i[i] = top_i[:k]
                out_d[i] = top_d[:k]

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

