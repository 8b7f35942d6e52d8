"""hashnet_lite.retrieval.reference, the plain AP@R by the definition, against cases worked
out by hand: it is the yardstick of test_metrics.py and of the lessons, so it is checked on
its own first."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import random_codes

from hashnet_lite import retrieval
from hashnet_lite.retrieval import reference as ref


# ----------------------------------------------------------------------------- one ranked list
def test_ap_at_r_by_hand():
    # relevant at ranks 1, 3, 6: precisions 1/1, 2/3, 3/6
    assert ref.ap_at_r([1, 0, 1, 0, 0, 1]) == (pytest.approx((1 + 2 / 3 + 3 / 6) / 3), 3)
    assert ref.ap_at_r([1, 0, 1, 0, 0, 1], topk=3) == (pytest.approx((1 + 2 / 3) / 2), 2)
    # the normaliser is the relevant items in the top R, not in the whole list
    assert ref.ap_at_r([0, 1, 1, 1], topk=2) == (pytest.approx(1 / 2), 1)
    assert ref.ap_at_r([0, 0, 1], topk=2) == (0.0, 0)  # nothing relevant in the top R
    assert ref.ap_at_r([1, 1], topk=10) == (1.0, 2)  # R beyond the list: the whole list
    assert ref.ap_at_r(np.array([True, False, True])) == (pytest.approx((1 + 2 / 3) / 2), 2)


@pytest.mark.parametrize("bad, topk", [([0, 2], None), ([[1, 0]], None), ([1, 0], 0), ([1, 0], 2.0), ([1], True)])
def test_ap_at_r_rejects_bad_input(bad, topk):
    with pytest.raises(ValueError, match="relevant=|topk="):
        ref.ap_at_r(bad, topk)


# ----------------------------------------------------------------------------- the pieces
def test_relevance_class_ids_and_multi_hot_rows():
    np.testing.assert_array_equal(ref.relevance(np.array([0, 2]), np.array([2, 0, 0])),
                                  [[False, True, True], [True, False, False]])
    q = np.array([[1, 0, 1], [0, 0, 0]])  # the second query has no label: relevant to nothing
    d = np.array([[0, 0, 1], [0, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(ref.relevance(q, d), [[True, False, True], [False, False, False]])
    with pytest.raises(ValueError, match="both"):
        ref.relevance(np.array([0, 1]), d)


def test_hamming_distances_by_hand():
    q = np.array([[1, 1, 1], [-1, 1, -1]])
    d = np.array([[1, 1, 1], [-1, -1, -1], [1, -1, 1]])
    np.testing.assert_array_equal(ref.hamming_distances(q, d), [[0, 3, 1], [2, 1, 3]])
    with pytest.raises(ValueError, match="expected \\(Q, K\\) and \\(N, K\\)"):
        ref.hamming_distances(q, d[:, :2])


def test_ranking_orders_ties_three_ways():
    dist = np.array([2, 1, 2, 0, 2])
    rel = np.array([True, False, False, False, True])
    np.testing.assert_array_equal(ref.ranking(dist, rel), [3, 1, 0, 2, 4])  # ties by index
    np.testing.assert_array_equal(ref.ranking(dist, rel, "relevant_first"), [3, 1, 0, 4, 2])
    np.testing.assert_array_equal(ref.ranking(dist, rel, "relevant_last"), [3, 1, 2, 0, 4])
    with pytest.raises(ValueError, match="tie_order='random'"):
        ref.ranking(dist, rel, "random")


# ----------------------------------------------------------------------------- whole evaluations
def test_average_precisions_and_the_empty_conventions_by_hand():
    # database at distances 0, 1, 2, 2 from both queries (2 bits)
    d = np.array([[1, 1], [1, -1], [-1, -1], [-1, -1]])
    q = np.array([[1, 1], [1, 1], [1, 1]])
    dl, ql = np.array([0, 1, 1, 0]), np.array([1, 0, 2])  # query 2: nothing relevant anywhere
    # query 0 (class 1): ranking I, R, R, I -> AP = (1/2 + 2/3) / 2; AP@1 = 0 with nothing in the top 1
    # query 1 (class 0): ranking R, I, I, R -> AP = (1 + 2/4) / 2; AP@1 = 1
    np.testing.assert_allclose(ref.average_precisions(q, d, ql, dl), [(1 / 2 + 2 / 3) / 2, 0.75, 0.0])
    np.testing.assert_allclose(ref.average_precisions(q, d, ql, dl, topk=1, empty="zero"), [0.0, 1.0, 0.0])
    np.testing.assert_allclose(ref.average_precisions(q, d, ql, dl, topk=1, empty="skip"), [np.nan, 1.0, np.nan])
    np.testing.assert_allclose(ref.average_precisions(q, d, ql, dl, topk=1, empty="skip_unanswerable"),
                               [0.0, 1.0, np.nan])
    assert ref.mean_average_precision(q, d, ql, dl, topk=1, empty="skip") == 1.0
    assert np.isnan(ref.mean_average_precision(q[2:], d, ql[2:], dl, empty="skip"))
    with pytest.raises(ValueError, match="empty='ignore'"):
        ref.average_precisions(q, d, ql, dl, empty="ignore")
    with pytest.raises(ValueError, match="one label per item"):
        ref.average_precisions(q, d, ql, dl[:3])


def test_reference_agrees_with_the_fast_metrics():
    rng = np.random.default_rng(0)
    q, d = random_codes(rng, 6, 5), random_codes(rng, 40, 5)
    ql, dl = rng.integers(0, 3, 6), rng.integers(0, 3, 40)
    for topk in (1, 9, None):
        for empty in ("zero", "skip", "skip_unanswerable"):
            np.testing.assert_allclose(ref.average_precisions(q, d, ql, dl, topk, empty),
                                       retrieval.average_precisions(q, d, ql, dl, topk=topk, empty=empty),
                                       atol=1e-12)


# ----------------------------------------------------------------------------- ties at the cut
def tie_at_the_cut():
    """One query; the database at distances 0, 1, 2, 2 with relevance R, I, [I, R]: the ranking
    R, I, [R, I], where the tie [R, I] straddles the cut R = 3."""
    q = np.array([[1, 1]])
    d = np.array([[1, 1], [1, -1], [-1, -1], [-1, -1]])
    return q, d, np.array([0]), np.array([0, 1, 1, 0])


def test_relevant_first_and_last_do_not_bracket_map_at_a_cut_r():
    q, d, ql, dl = tie_at_the_cut()
    first = ref.mean_average_precision(q, d, ql, dl, topk=3, tie_order="relevant_first")
    last = ref.mean_average_precision(q, d, ql, dl, topk=3, tie_order="relevant_last")
    by_index = ref.mean_average_precision(q, d, ql, dl, topk=3)
    # relevant last: R, I, I -> 1/1 over n = 1; relevant first: R, I, R -> (1 + 2/3) / 2 = 5/6
    assert last == pytest.approx(1.0) and first == pytest.approx(5 / 6)
    assert last > first  # the "worst" order scores higher: pushing R out of the top 3 shrinks n
    assert by_index == pytest.approx(1.0)  # here ties by index put the irrelevant item first
    tie_aware = retrieval.mean_average_precision(q, d, ql, dl, topk=3, ties="tie_aware")
    assert tie_aware == pytest.approx((1.0 + 5 / 6) / 2)  # the mean over the two orders


def test_over_the_whole_ranking_the_tie_orders_bound_map():
    q, d, ql, dl = tie_at_the_cut()
    first = ref.mean_average_precision(q, d, ql, dl, tie_order="relevant_first")
    last = ref.mean_average_precision(q, d, ql, dl, tie_order="relevant_last")
    # R, I, R, I -> (1 + 2/3) / 2; R, I, I, R -> (1 + 2/4) / 2
    assert first == pytest.approx(5 / 6) and last == pytest.approx(3 / 4)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        q, d = random_codes(rng, 10, 4), random_codes(rng, 60, 4)  # 4 bits: large ties
        ql, dl = rng.integers(0, 3, 10), rng.integers(0, 3, 60)
        first = ref.average_precisions(q, d, ql, dl, tie_order="relevant_first")
        last = ref.average_precisions(q, d, ql, dl, tie_order="relevant_last")
        for ap in (ref.average_precisions(q, d, ql, dl),
                   retrieval.average_precisions(q, d, ql, dl, ties="tie_aware")):
            assert np.all(last - 1e-12 <= ap) and np.all(ap <= first + 1e-12)
