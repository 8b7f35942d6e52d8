"""hashnet_lite.teaching.map_by_hand (notebook 01): AP@R worked out row by row, the Hamming
ranking, and what the tie orders do: over the whole ranking relevant-first and -last bound
mAP; at a cut R they need not."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import random_codes

from hashnet_lite import retrieval
from hashnet_lite.retrieval import reference
from hashnet_lite.teaching import map_by_hand


def test_ap_table_works_the_definition_out():
    t = map_by_hand.ap_table([1, 0, 1, 0, 0, 1])
    assert t["ap"] == pytest.approx((1 / 1 + 2 / 3 + 3 / 6) / 3)
    assert [r["hits"] for r in t["rows"]] == [1, 1, 2, 2, 2, 3]
    assert [r["counted"] for r in t["rows"]] == [True, False, True, False, False, True]
    assert t["rows"][1]["precision"] == pytest.approx(1 / 2)
    top3 = map_by_hand.ap_table([1, 0, 1, 0, 0, 1], topk=3)
    assert len(top3["rows"]) == 3 and top3["ap"] == pytest.approx((1 + 2 / 3) / 2)
    assert map_by_hand.ap_table([0, 0, 1], topk=2) == {"rows": map_by_hand.ap_table([0, 0], None)["rows"],
                                                         "n_relevant": 0, "ap": 0.0}


@pytest.mark.parametrize("bad", [[], [0, 2], [[1, 0]]])
def test_ap_table_rejects_non_binary_relevance(bad):
    with pytest.raises(ValueError, match="relevant"):
        map_by_hand.ap_table(bad)


@pytest.mark.parametrize("topk", [None, 1, 7, 40])
def test_ap_table_of_the_hamming_ranking_matches_retrieval(topk):
    q, d = random_codes(1, 5, 6), random_codes(2, 60, 6)  # 6 bits: many ties
    yq, yd = np.arange(5) % 3, np.arange(60) % 3
    expected = retrieval.average_precisions(q, d, yq, yd, topk=topk, empty="zero", ties="index")
    for i in range(5):
        order, dist = map_by_hand.hamming_ranking(q[i], d)
        assert np.all(np.diff(dist) >= 0)
        assert map_by_hand.ap_table(yd[order] == yq[i], topk)["ap"] == pytest.approx(expected[i])


def test_relevance_matrix_same_for_class_ids_and_one_hot_rows():
    ids_q, ids_d = np.array([0, 2, 1]), np.array([2, 2, 0, 1])
    eye = np.eye(3, dtype=np.uint8)
    np.testing.assert_array_equal(map_by_hand.relevance_matrix(ids_q, ids_d),
                                  map_by_hand.relevance_matrix(eye[ids_q], eye[ids_d]))
    with pytest.raises(ValueError, match="both"):
        map_by_hand.relevance_matrix(ids_q, eye[ids_d])


@pytest.mark.parametrize("seed", range(5))
def test_tie_orders_bound_map_over_the_whole_ranking(seed):
    # topk=None: the number of relevant items n_q is fixed, so moving relevant items up inside
    # a tie can only raise AP; relevant-first and -last are the highest and the lowest mAP
    q, d = random_codes(10 * seed + 3, 8, 4), random_codes(10 * seed + 4, 80, 4)  # 4 bits: large ties
    yq, yd = np.arange(8) % 4, np.arange(80) % 4
    first = map_by_hand.tie_order_map(q, d, yq, yd, order="first")
    last = map_by_hand.tie_order_map(q, d, yq, yd, order="last")
    by_index = retrieval.mean_average_precision(q, d, yq, yd)
    aware = retrieval.mean_average_precision(q, d, yq, yd, ties="tie_aware")
    assert last < first  # the ties matter on these codes
    assert last - 1e-12 <= by_index <= first + 1e-12 and last - 1e-12 <= aware <= first + 1e-12
    assert first == reference.mean_average_precision(q, d, yq, yd, tie_order="relevant_first")
    with pytest.raises(ValueError, match="order"):
        map_by_hand.tie_order_map(q, d, yq, yd, order="middle")


def test_tie_orders_need_not_bound_map_at_a_cut_r():
    # R, I, [R, I] at R = 3: with the relevant item last in the tie the top 3 is R, I, I and
    # AP@3 = 1/1 = 1.0; with it first, R, I, R and AP@3 = (1 + 2/3) / 2 = 5/6. The "worst"
    # order scores higher: at a cut the tie also decides how many relevant items count.
    q = np.array([[1, 1]])
    d = np.array([[1, 1], [1, -1], [-1, -1], [-1, -1]])  # distances 0, 1, 2, 2
    yq, yd = np.array([0]), np.array([0, 1, 1, 0])
    first = map_by_hand.tie_order_map(q, d, yq, yd, topk=3, order="first")
    last = map_by_hand.tie_order_map(q, d, yq, yd, topk=3, order="last")
    assert first == pytest.approx(5 / 6) and last == pytest.approx(1.0)
    assert map_by_hand.ap_table([1, 0, 1, 0], topk=3)["ap"] == pytest.approx(first)
    assert map_by_hand.ap_table([1, 0, 0, 1], topk=3)["ap"] == pytest.approx(last)
    aware = retrieval.mean_average_precision(q, d, yq, yd, topk=3, ties="tie_aware")
    assert first < aware < last  # the expectation over the tie's two orders: (5/6 + 1) / 2
    assert aware == pytest.approx((5 / 6 + 1) / 2)


def test_tie_orders_agree_when_there_are_no_ties():
    # database item j differs from the query in its first j bits: distances 0, 1, ..., K
    bits = 9
    q = np.ones((1, bits), np.int8)
    d = np.ones((bits + 1, bits), np.int8)
    for j in range(bits + 1):
        d[j, :j] = -1
    yq, yd = np.array([1]), np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 1])
    expected = retrieval.mean_average_precision(q, d, yq, yd)
    for order in ("first", "last"):
        assert map_by_hand.tie_order_map(q, d, yq, yd, order=order) == pytest.approx(expected)


def test_convention_table_rows():
    q, d = random_codes(5, 12, 4), random_codes(6, 50, 4)
    yq, yd = np.arange(12) % 5, np.arange(50) % 5
    rows = map_by_hand.convention_table(q, d, yq, yd, topk=3)
    values = {r["convention"]: r["map"] for r in rows}
    assert len(rows) == 5 and all(r["topk"] == 3 for r in rows)
    assert values["ties by index, empty queries left out"] >= values["ties by index, empty queries count 0"]
    assert values["relevant items first in ties"] == map_by_hand.tie_order_map(q, d, yq, yd, 3, order="first")
    # over the whole ranking (and only there) the two tie orders bound the others
    whole = {r["convention"]: r["map"] for r in map_by_hand.convention_table(q, d, yq, yd)}
    assert all(r["topk"] == "all" for r in map_by_hand.convention_table(q, d, yq, yd))
    assert (whole["relevant items last in ties"] <= whole["tie-aware expectation"]
            <= whole["relevant items first in ties"])
