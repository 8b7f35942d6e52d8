"""hashnet_lite.retrieval.metrics against the plain reference (retrieval.reference).

Every metric is checked against the definition on tie-heavy codes (few bits, many items, so
most distances are shared), with single- and multi-label data, unlabelled items, every
``empty`` mode and topk in {1, R, None}; both engines (numba kernels and the numpy path)
must agree with it. The tie-aware AP is checked against an enumeration of every order inside
the ties.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import random_codes

from hashnet_lite import retrieval as rt
from hashnet_lite.retrieval import kernels
from hashnet_lite.retrieval import reference as ref
from hashnet_lite.retrieval._inputs import _pack_words

ENGINES = ["numba", "numpy"]


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch):
    if request.param == "numba" and kernels.numba is None:
        pytest.skip("numba is not installed: only the numpy path exists here")
    monkeypatch.setattr(kernels, "USE_NUMBA", request.param == "numba")
    return request.param


# ----------------------------------------------------------------------------- data
def make(kind, seed=0, n_queries=20, n_database=120, bits=6):
    """Tie-heavy codes (6 bits: 7 distances for 120 items) and labels of the given kind."""
    rng = np.random.default_rng(seed)
    q, d = random_codes(rng, n_queries, bits), random_codes(rng, n_database, bits)
    if kind == "single":
        return q, d, rng.integers(0, 4, n_queries), rng.integers(0, 4, n_database)
    ql = (rng.random((n_queries, 5)) < 0.3).astype(np.int64)
    dl = (rng.random((n_database, 5)) < 0.3).astype(np.int64)
    ql[0] = 0  # a query with no label: relevant to nothing
    dl[:10] = 0  # unlabelled database items
    return q, d, ql, dl


def top_relevance(dist_row, rel_row, k=None):
    """Relevance of the top k by (distance, database index), the reference's ranking."""
    return rel_row[ref.ranking(dist_row, rel_row)][:k]


# ----------------------------------------------------------------------------- codes
@pytest.mark.parametrize("bits", [1, 5, 8, 13, 64, 70, 130])
def test_hamming_distance_and_packing_against_definition(bits, engine):
    rng = np.random.default_rng(bits)
    q, d = random_codes(rng, 7, bits), random_codes(rng, 11, bits)
    dist = rt.hamming_distance(q, d)
    assert dist.dtype == np.int32
    np.testing.assert_array_equal(dist, ref.hamming_distances(q, d))
    np.testing.assert_array_equal(dist, (bits - q.astype(int) @ d.T.astype(int)) // 2)
    packed = rt.pack_codes(d)
    assert packed.dtype == np.uint8 and packed.shape == (11, -(-bits // 8))
    np.testing.assert_array_equal(packed, np.packbits(d > 0, axis=1))  # +1 -> 1, MSB first, zero padding
    back = rt.unpack_codes(packed, bits)
    assert back.dtype == np.int8
    np.testing.assert_array_equal(back, d)


# ----------------------------------------------------------------------------- mAP
@pytest.mark.parametrize("kind", ["single", "multi"])
@pytest.mark.parametrize("empty", ["zero", "skip", "skip_unanswerable"])
@pytest.mark.parametrize("topk", [1, 37, None, 500])
def test_average_precisions_match_brute_force(kind, empty, topk, engine):
    q, d, ql, dl = make(kind, seed=3)
    got = rt.average_precisions(q, d, ql, dl, topk=topk, empty=empty)
    want = ref.average_precisions(q, d, ql, dl, topk=topk, empty=empty)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    kept = want[~np.isnan(want)]
    assert rt.mean_average_precision(q, d, ql, dl, topk=topk, empty=empty) == pytest.approx(kept.mean(), abs=1e-12)


def test_empty_conventions_differ_where_they_should(engine):
    # query 0: relevant items exist but all sit beyond the top 2; query 1: nothing relevant at all
    d = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]])
    q = np.array([[1, 1], [1, 1]])
    dl, ql = np.array([0, 0, 0, 1]), np.array([1, 2])
    for empty, want in [("zero", [0.0, 0.0]), ("skip", [np.nan, np.nan]), ("skip_unanswerable", [0.0, np.nan])]:
        np.testing.assert_array_equal(rt.average_precisions(q, d, ql, dl, topk=2, empty=empty), want)
    assert np.isnan(rt.mean_average_precision(q, d, ql, dl, topk=2, empty="skip"))
    assert rt.average_precisions(q, d, ql, dl, topk=None)[0] == pytest.approx(1 / 4)


def test_ties_by_index_is_what_moves_the_number():
    # all four items tie at distance 0; only the last is relevant: AP@4 = 1/4, AP@1 = 0
    d = np.ones((4, 3))
    dl = np.array([0, 0, 0, 1])
    assert rt.mean_average_precision(d[:1], d, [1], dl, topk=4) == pytest.approx(0.25)
    assert rt.mean_average_precision(d[:1], d, [1], dl, topk=1) == 0.0
    # tie-aware: the relevant item is at each position with probability 1/4
    assert rt.mean_average_precision(d[:1], d, [1], dl, topk=4, ties="tie_aware") == pytest.approx(
        np.mean([1, 1 / 2, 1 / 3, 1 / 4]))
    assert rt.mean_average_precision(d[:1], d, [1], dl, topk=1, ties="tie_aware") == pytest.approx(0.25)


def brute_tie_aware(q, d, ql, dl, topk):
    """Enumerate every order inside every tie: (mean AP counting empty lists as 0,
    mean AP over the orders whose list holds a relevant item or NaN)."""
    dist, rel = ref.hamming_distances(q, d), ref.relevance(ql, dl)
    zero, skip = [], []
    for i in range(len(q)):
        groups = [[j for j in range(len(d)) if dist[i, j] == v] for v in sorted(set(dist[i]))]
        aps = []
        for combo in itertools.product(*(itertools.permutations(g) for g in groups)):
            order = [j for g in combo for j in g]
            aps.append(ref.ap_at_r(rel[i, order].astype(int), topk))
        zero.append(np.mean([ap for ap, _ in aps]))
        kept = [ap for ap, n in aps if n]
        skip.append(np.mean(kept) if kept else np.nan)
    return np.array(zero), np.array(skip)


@pytest.mark.parametrize("seed", range(6))
def test_tie_aware_equals_the_average_over_all_tie_orders(seed, engine):
    kind = "single" if seed % 2 else "multi"
    q, d, ql, dl = make(kind, seed=seed, n_queries=4, n_database=7, bits=3)
    for topk in (1, 3, 5, None):
        zero, skip = brute_tie_aware(q, d, ql, dl, topk)
        np.testing.assert_allclose(rt.average_precisions(q, d, ql, dl, topk=topk, ties="tie_aware"), zero, atol=1e-12)
        np.testing.assert_allclose(rt.average_precisions(q, d, ql, dl, topk=topk, ties="tie_aware", empty="skip"),
                                   skip, atol=1e-12)


def test_index_and_tie_aware_lie_between_relevant_first_and_last(engine):
    # over the whole ranking n_q is fixed, so moving relevant items up can only raise AP. (At a
    # cut R it need not: pushing relevant items out of the top R can raise AP@R, so there the
    # relevant-first/last orders are not bounds; test_reference.py holds the counterexample.)
    q, d, ql, dl = make("single", seed=11, n_queries=30, n_database=400, bits=8)
    by_index = rt.average_precisions(q, d, ql, dl)
    tie_aware = rt.average_precisions(q, d, ql, dl, ties="tie_aware")
    first = ref.average_precisions(q, d, ql, dl, tie_order="relevant_first")
    last = ref.average_precisions(q, d, ql, dl, tie_order="relevant_last")
    for i in range(len(q)):
        best, worst = first[i], last[i]
        assert worst < best  # the ties matter on these codes
        assert worst - 1e-12 <= by_index[i] <= best + 1e-12
        assert worst + 1e-12 < tie_aware[i] < best - 1e-12


def test_engines_agree_at_a_larger_size(monkeypatch):
    if kernels.numba is None:
        pytest.skip("numba is not installed: only the numpy path exists here")
    rng = np.random.default_rng(5)
    q, d = random_codes(rng, 40, 48), random_codes(rng, 3000, 48)
    ql, dl = (rng.random((40, 9)) < 0.2).astype(int), (rng.random((3000, 9)) < 0.2).astype(int)
    results = {}
    for flag in (True, False):
        monkeypatch.setattr(kernels, "USE_NUMBA", flag)
        results[flag] = [rt.average_precisions(q, d, ql, dl, topk=100, ties=t) for t in ("index", "tie_aware")]
        results[flag].append(rt.precision_recall_curve(q, d, ql, dl)[0])
    for a, b in zip(results[True], results[False]):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_top_list_is_exact_when_the_sampled_radius_is_too_small(engine):
    # the numba kernel guesses a radius from every (N // kernels.SAMPLE)-th item, here every
    # 4th; make those items (and others) the near ones, so the guess holds too few and the
    # exact fallback runs
    bits, n, k = 16, 20000, 15000
    q = np.ones((1, bits), np.int8)
    d = -np.ones((n, bits), np.int8)
    d[::2] = 1  # distance 0
    d[1::4, :3] = 1  # distance 13; the rest 16
    dl, ql = np.arange(n) % 3, np.array([0])
    if engine == "numba":
        assert n // kernels.SAMPLE == 4
        guess = kernels._nb_guess_radius(_pack_words(q == 1), 0, _pack_words(d == 1), k, np.zeros(65, np.int64))
        assert guess == 0 and (d == 1).all(axis=1).sum() < k  # 10,000 items within it, k = 15,000
    dist = (bits - d.astype(int) @ q[0]) // 2
    order = np.lexsort((np.arange(n), dist))[:k]  # by (distance, index)
    assert rt.average_precisions(q, d, ql, dl, topk=k)[0] == pytest.approx(ref.ap_at_r(dl[order] == 0)[0], abs=1e-12)
    hits = np.cumsum(dl[order] == 0)
    np.testing.assert_allclose(rt.precision_at_k(q, d, ql, dl, [k - 1, k]), hits[[k - 2, k - 1]] / [k - 1, k])


def test_chunking_does_not_change_answers(monkeypatch, engine):
    q, d, ql, dl = make("multi", seed=8, n_queries=25, n_database=150, bits=9)
    whole = [rt.average_precisions(q, d, ql, dl, topk=t, ties=ties, empty="skip_unanswerable")
             for t in (10, None) for ties in ("index", "tie_aware")]
    whole_real = rt.average_precisions_real(q, d, ql, dl, topk=10)
    monkeypatch.setattr(kernels, "MEMORY_BUDGET_BYTES", 1)  # one query per chunk
    chunked = [rt.average_precisions(q, d, ql, dl, topk=t, ties=ties, empty="skip_unanswerable")
               for t in (10, None) for ties in ("index", "tie_aware")]
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(rt.average_precisions_real(q, d, ql, dl, topk=10), whole_real)


# ----------------------------------------------------------------------------- inputs
def test_dtypes_and_torch_inputs_give_the_same_answer():
    torch = pytest.importorskip("torch")
    q, d, ql, dl = make("multi", seed=2)
    want = rt.average_precisions(q, d, ql, dl, topk=30)
    for dtype in (np.int8, np.int32, np.int64, np.float16, np.float32, np.float64):
        np.testing.assert_array_equal(rt.average_precisions(q.astype(dtype), d.astype(dtype), ql, dl, topk=30), want)
    tq = torch.tensor(q, dtype=torch.float32, requires_grad=True)
    got = rt.average_precisions(tq, torch.tensor(d, dtype=torch.bfloat16), torch.tensor(ql, dtype=torch.bool),
                                torch.tensor(dl, dtype=torch.uint8), topk=30)
    np.testing.assert_array_equal(got, want)
    qs, ds, qls, dls = make("single", seed=2)
    assert rt.mean_average_precision(torch.tensor(qs), torch.tensor(ds), torch.tensor(qls), torch.tensor(dls)) == \
        rt.mean_average_precision(qs, ds, qls, dls)
    assert isinstance(rt.mean_average_precision(qs, ds, qls, dls), float)


@pytest.mark.cuda
def test_cuda_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    q, d, ql, dl = make("single", seed=4)
    cuda = [torch.tensor(a, device="cuda") for a in (q, d, ql, dl)]
    assert rt.mean_average_precision(*cuda, topk=10) == rt.mean_average_precision(q, d, ql, dl, topk=10)


def test_inputs_are_never_modified():
    torch = pytest.importorskip("torch")
    q, d, ql, dl = make("multi", seed=6)
    arrays = [q.copy(), d.copy(), ql.copy(), dl.copy()]
    for a in arrays:
        a.setflags(write=False)  # any write would raise
    tensors = [torch.tensor(a) for a in (q, d, ql, dl)]
    for inputs in (arrays, tensors):
        for ties in ("index", "tie_aware"):
            rt.average_precisions(*inputs, topk=20, ties=ties, empty="skip_unanswerable")
        rt.average_precisions_real(*inputs, topk=20, metric="cosine")
        rt.precision_at_k(*inputs, ks=[1, 5])
        rt.precision_recall_curve(*inputs)
        rt.precision_within_radius(*inputs)
    for a, b in zip(arrays, (q, d, ql, dl)):
        np.testing.assert_array_equal(a, b)
    for t, b in zip(tensors, (q, d, ql, dl)):
        np.testing.assert_array_equal(t.numpy(), b)


def test_bad_inputs_raise_value_errors_that_name_the_argument():
    q, d, ql, dl = make("single")
    mh = (np.arange(len(d))[:, None] % 3 == np.arange(3)).astype(int)
    cases = [
        (dict(query_codes=q[:, :5]), "query_codes has 5 bits but database_codes has 6"),
        (dict(query_codes=np.where(q > 0, 1, 0)), "query_codes holds the value 0"),
        (dict(database_codes=d * 2), "database_codes holds the value"),
        (dict(database_codes=np.where(d > 0, 1.0, np.nan)), "database_codes holds the value nan"),
        (dict(query_codes=q > 0), "query_codes has dtype bool"),
        (dict(query_codes=q[0]), "query_codes has shape"),
        (dict(query_labels=ql[:-1]), "query_labels has 19 rows but query_codes has 20"),
        (dict(database_labels=dl[:-1]), "database_labels has 119 rows but database_codes has 120"),
        (dict(topk=0), "topk=0"),
        (dict(topk=2.5), "topk=2.5"),
        (dict(empty="ignore"), "empty='ignore'"),
        (dict(ties="random"), "ties='random'"),
        (dict(database_labels=mh), "same form"),
        (dict(query_labels=-ql - 1), "query_labels .* class ids"),
        (dict(query_labels=ql.astype(float)), "query_labels .* class ids"),
    ]
    base = dict(query_codes=q, database_codes=d, query_labels=ql, database_labels=dl)
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            rt.mean_average_precision(**{**base, **change})
    qm = (np.arange(len(q))[:, None] % 4 == np.arange(4)).astype(int)
    with pytest.raises(ValueError, match="query_labels has shape .* database_labels has"):
        rt.average_precisions(q, d, qm, mh)
    with pytest.raises(ValueError, match="database_labels must be 0/1"):
        rt.average_precisions(q, d, qm[:, :3], mh * 2)
    with pytest.raises(ValueError, match="metric='l1'"):
        rt.mean_average_precision_real(q, d, ql, dl, metric="l1")
    with pytest.raises(ValueError, match="query_vectors has 6 dimensions but database_vectors has 3"):
        rt.mean_average_precision_real(q, d[:, :3], ql, dl)
    with pytest.raises(ValueError, match="query_vectors .* finite"):
        rt.mean_average_precision_real(np.full(q.shape, np.inf), d, ql, dl)
    with pytest.raises(ValueError, match="ks holds 121"):
        rt.precision_at_k(q, d, ql, dl, ks=[1, 121])
    with pytest.raises(ValueError, match="ks=0"):
        rt.precision_at_k(q, d, ql, dl, ks=0)
    with pytest.raises(ValueError, match="r=-1"):
        rt.precision_within_radius(q, d, ql, dl, r=-1)
    with pytest.raises(ValueError, match="average='weighted'"):
        rt.precision_recall_curve(q, d, ql, dl, average="weighted")
    with pytest.raises(ValueError, match="bits=9 needs 2"):
        rt.unpack_codes(rt.pack_codes(q), 9)
    with pytest.raises(ValueError, match="codes holds the value"):
        rt.pack_codes(q * 0)


# ----------------------------------------------------------------------------- real-valued
@pytest.mark.parametrize("metric", ["inner", "cosine", "euclidean"])
@pytest.mark.parametrize("empty", ["zero", "skip"])
def test_real_valued_ranking_matches_brute_force(metric, empty):
    rng = np.random.default_rng(9)
    if metric == "cosine":  # +-1 rows have norm 2, so normalising is exact and ties stay exact
        q, d = random_codes(rng, 15, 4).astype(float), random_codes(rng, 90, 4).astype(float)
        d[1] = 4 * d[2]  # same direction, another norm: an exact tie
    else:  # small integers: scores are exact and many are equal
        q, d = rng.integers(-2, 3, (15, 4)).astype(float), rng.integers(-2, 3, (90, 4)).astype(float)
    d[0] = 0.0  # a zero vector (cosine: scores 0)
    ql, dl = rng.integers(0, 3, 15), rng.integers(0, 3, 90)
    for topk in (1, 12, None):
        got = rt.average_precisions_real(q, d, ql, dl, topk=topk, empty=empty, metric=metric)
        want = []
        for i in range(len(q)):
            if metric == "inner":
                score = [float(q[i] @ x) for x in d]
            elif metric == "cosine":
                nq = np.linalg.norm(q[i])
                score = [float(q[i] @ x) / (nq * np.linalg.norm(x)) if nq and np.linalg.norm(x) else 0.0 for x in d]
            else:
                score = [-float(((q[i] - x) ** 2).sum()) for x in d]
            order = sorted(range(len(d)), key=lambda j: (-score[j], j))[: topk or len(d)]
            ap, n = ref.ap_at_r(ql[i] == dl[order])
            want.append(ap if n else (np.nan if empty == "skip" else 0.0))
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_real_valued_ranking_of_codes_equals_the_hamming_ranking(engine):
    q, d, ql, dl = make("multi", seed=12, bits=10)
    for topk in (5, 50, None):
        assert rt.mean_average_precision_real(q, d, ql, dl, topk=topk) == \
            pytest.approx(rt.mean_average_precision(q, d, ql, dl, topk=topk), abs=1e-12)


# ----------------------------------------------------------------------------- other metrics
@pytest.mark.parametrize("kind", ["single", "multi"])
def test_precision_at_k_matches_brute_force(kind, engine):
    q, d, ql, dl = make(kind, seed=13)
    dist, rel = ref.hamming_distances(q, d), ref.relevance(ql, dl)
    ks = [1, 7, 60, 120]
    want = [np.mean([top_relevance(dist[i], rel[i], k).sum() / k for i in range(len(q))]) for k in ks]
    np.testing.assert_allclose(rt.precision_at_k(q, d, ql, dl, ks), want, atol=1e-12)
    assert rt.precision_at_k(q, d, ql, dl, 7) == pytest.approx(want[1])
    # tie-aware: expected hits at the cut = A + (k - L) p / n
    expected = []
    for k in ks:
        per_query = []
        for i in range(len(q)):
            cut = np.sort(dist[i])[k - 1]
            closer = dist[i] < cut
            at = dist[i] == cut
            per_query.append((rel[i][closer].sum() + (k - closer.sum()) * rel[i][at].mean()) / k)
        expected.append(np.mean(per_query))
    np.testing.assert_allclose(rt.precision_at_k(q, d, ql, dl, ks, ties="tie_aware"), expected, atol=1e-12)


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_radius_metrics_match_brute_force(kind, engine):
    q, d, ql, dl = make(kind, seed=14, bits=7)
    dist, rel = ref.hamming_distances(q, d), ref.relevance(ql, dl)
    retrieved = np.stack([(dist <= r).sum(1) for r in range(8)], 1)
    hits = np.stack([((dist <= r) & rel).sum(1) for r in range(8)], 1)
    totals = rel.sum(1)
    prec = np.where(retrieved > 0, hits / np.maximum(retrieved, 1), 0.0)
    p, r = rt.precision_recall_curve(q, d, ql, dl)
    assert p.shape == r.shape == (8,)
    np.testing.assert_allclose(p, prec.mean(0), atol=1e-12)
    np.testing.assert_allclose(r, (hits[totals > 0] / totals[totals > 0, None]).mean(0), atol=1e-12)
    assert r[-1] == pytest.approx(1.0)
    p, r = rt.precision_recall_curve(q, d, ql, dl, average="micro")
    np.testing.assert_allclose(p, hits.sum(0) / retrieved.sum(0), atol=1e-12)
    np.testing.assert_allclose(r, hits.sum(0) / totals.sum(), atol=1e-12)
    for radius in (0, 2, 30):
        col = min(radius, 7)
        assert rt.precision_within_radius(q, d, ql, dl, r=radius) == pytest.approx(prec[:, col].mean())
        some = retrieved[:, col] > 0
        assert rt.precision_within_radius(q, d, ql, dl, r=radius, empty="skip") == pytest.approx(prec[some, col].mean())
    assert rt.precision_within_radius(q, d, ql, dl) == pytest.approx(prec[:, 2].mean())  # r = 2 by default
