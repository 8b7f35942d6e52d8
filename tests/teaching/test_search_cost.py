"""hashnet_lite.teaching.search_cost (notebook 01): bytes of codes against float vectors, the
float top-k it times, and what the measurement reports."""
from __future__ import annotations

import numpy as np
import pytest

from hashnet_lite.teaching import search_cost


def test_storage_bytes_follow_the_formulas():
    assert search_cost.storage_bytes(1000, dim=4096) == 4 * 4096 * 1000
    assert search_cost.storage_bytes(1000, bits=64) == 8 * 1000
    assert search_cost.storage_bytes(10, bits=12) == 2 * 10  # 12 bits still take 2 whole bytes
    assert search_cost.storage_bytes(1, dim=4096) / search_cost.storage_bytes(1, bits=64) == 32 * 4096 / 64


@pytest.mark.parametrize("kwargs", [dict(), dict(dim=4, bits=8), dict(dim=0), dict(bits=-1)])
def test_storage_bytes_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="dim|bits"):
        search_cost.storage_bytes(5, **kwargs)


def test_float_topk_agrees_with_a_full_sort_whatever_the_chunk():
    rng = np.random.default_rng(0)
    database = rng.standard_normal((50, 6)).astype(np.float32)
    database[7] = database[3]  # a tie in score: broken by index
    queries = np.vstack([rng.standard_normal((4, 6)), database[3:4]]).astype(np.float32)
    scores = queries @ database.T
    expected = np.lexsort((np.broadcast_to(np.arange(50), scores.shape), -scores), axis=1)[:, :5]
    for chunk in (1, 2, 256):
        s, i = search_cost.float_topk(queries, database, 5, chunk=chunk)
        np.testing.assert_array_equal(i, expected)
        np.testing.assert_allclose(s, np.take_along_axis(scores, expected, axis=1), rtol=1e-6)
    assert list(i[-1][:2]) == [3, 7]


def test_float_topk_rejects_bad_input():
    with pytest.raises(ValueError, match="k=6"):
        search_cost.float_topk(np.zeros((2, 3)), np.zeros((5, 3)), 6)
    with pytest.raises(ValueError, match="queries"):
        search_cost.float_topk(np.zeros((2, 4)), np.zeros((5, 3)), 1)


def test_measure_search_cost_reports_what_it_stored():
    r = search_cost.measure_search_cost(n_database=300, n_queries=7, dim=32, bits=16, k=5, repeats=1)
    assert r["bytes_float"] == 4 * 32 * 300 and r["bytes_binary"] == 2 * 300
    assert r["storage_ratio"] == 32 * 32 / 16
    assert r["seconds_float"] > 0 and r["seconds_binary"] > 0
    assert r["speedup"] == pytest.approx(r["seconds_float"] / r["seconds_binary"])
    assert r["backend"] in ("faiss", "numpy")
    with pytest.raises(ValueError, match="k=301"):
        search_cost.measure_search_cost(n_database=300, n_queries=1, dim=4, bits=8, k=301)
    with pytest.raises(ValueError, match="repeats"):
        search_cost.measure_search_cost(n_database=3, n_queries=1, dim=4, bits=8, k=1, repeats=0)
