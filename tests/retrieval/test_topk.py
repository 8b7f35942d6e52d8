"""The top-k kernel behind mAP@R, precision@k and HammingIndex: the k nearest by (distance,
database index), on random and tie-heavy codes, whatever its sampled radius guessed.

The numba kernel guesses a radius from the distances of every (N // kernels.SAMPLE)-th item,
keeps the items within it in one pass over the database (shrinking the radius once k of them
lie below it), and sorts the kept ones by counting; when the guess holds fewer than k items it
scans again with no radius. Each route must give exactly the ranking of a lexicographic sort
of (distance, index), which the numpy path (a stable argsort) gives too.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import random_codes

from hashnet_lite import retrieval as rt
from hashnet_lite.retrieval import kernels
from hashnet_lite.retrieval import reference as ref
from hashnet_lite.retrieval._inputs import _pack_words

needs_numba = pytest.mark.skipif(kernels.numba is None, reason="numba is not installed: only the numpy path exists here")


def codes(kind: str, rng, n: int, bits: int) -> np.ndarray:
    """random: every bit a coin; ties: 6 centres with 1 bit in 16 flipped, so that most items
    share their distance to a query with hundreds of others."""
    if kind == "random":
        return random_codes(rng, n, bits)
    centres = random_codes(rng, 6, bits)
    flips = np.where(rng.random((n, bits)) < 1 / 16, -1, 1).astype(np.int8)
    return centres[rng.integers(0, 6, n)] * flips


def by_definition(q: np.ndarray, d: np.ndarray, k: int):
    dist = ref.hamming_distances(q, d)
    order = np.lexsort((np.broadcast_to(np.arange(d.shape[0]), dist.shape), dist), axis=1)[:, :k]
    return np.take_along_axis(dist, order, axis=1), order


def topk(q: np.ndarray, d: np.ndarray, k: int, monkeypatch, numba_on: bool):
    monkeypatch.setattr(kernels, "USE_NUMBA", numba_on)
    return kernels._topk(_pack_words(q == 1), _pack_words(d == 1), k)


@needs_numba
@pytest.mark.parametrize("bits", [8, 16, 64, 130])
@pytest.mark.parametrize("kind", ["random", "ties"])
def test_top_k_is_the_first_k_by_distance_then_index(bits, kind, monkeypatch):
    # 10,000 items: a sample of every 2nd item, ten tiles and a part one; k from 1 to all
    rng = np.random.default_rng(bits)
    q, d = codes(kind, rng, 12, bits), codes(kind, rng, 10_000, bits)
    for k in (1, 7, 1000, 6000, 10_000):
        want_d, want_i = by_definition(q, d, k)
        for numba_on in (True, False):
            got_d, got_i = topk(q, d, k, monkeypatch, numba_on)
            assert got_d.dtype == np.int32 and got_i.dtype == np.int64
            np.testing.assert_array_equal(got_i, want_i, err_msg=f"k={k}, numba={numba_on}")
            np.testing.assert_array_equal(got_d, want_d, err_msg=f"k={k}, numba={numba_on}")


@needs_numba
def test_a_radius_guessed_too_large_shrinks_and_the_answer_stays_exact(monkeypatch):
    # the sampled items are all far (distance 16), the others near (1 in 100 at distance 0,
    # the rest at 3): the guess is the largest distance, and the pass must shrink the radius
    # as the near items come in
    bits, n, k = 16, 40_000, 50
    stride = n // kernels.SAMPLE
    q = np.ones((1, bits), np.int8)
    d = np.ones((n, bits), np.int8)
    d[np.random.default_rng(0).random(n) >= 0.01, :3] = -1
    d[::stride] = -1
    qw, dw = _pack_words(q == 1), _pack_words(d == 1)
    hist = np.zeros(65, np.int64)
    guess = kernels._nb_guess_radius(qw, 0, dw, k, hist)
    assert guess == 16
    tile, flag = np.empty(kernels.TILE, np.uint16), np.zeros(kernels.TILE, np.uint8)
    glist, cand, cand_d = np.empty(kernels.TILE // 8, np.int64), np.empty(n, np.int64), np.empty(n, np.uint16)
    m, radius = kernels._nb_within(qw, 0, dw, guess, k, tile, flag, glist, hist, cand, cand_d)
    assert radius == 0  # once k items at distance 0 are kept
    assert m < n // 4  # so most of the 40,000 items are passed over
    want_d, want_i = by_definition(q, d, k)
    got_d, got_i = topk(q, d, k, monkeypatch, True)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_d, want_d)


@needs_numba
@pytest.mark.parametrize("bits", [8, 16, 64])
@pytest.mark.parametrize("kind", ["random", "ties"])
def test_map_at_r_small_large_and_beyond_the_database(bits, kind, monkeypatch):
    # mAP@R through the kernel against the plain reference, R from 1 to past the database
    rng = np.random.default_rng(100 + bits)
    q, d = codes(kind, rng, 15, bits), codes(kind, rng, 9000, bits)
    ql, dl = rng.integers(0, 5, 15), rng.integers(0, 5, 9000)
    monkeypatch.setattr(kernels, "USE_NUMBA", True)
    for R in (1, 10, 1000, 9000, 20_000):
        want = ref.average_precisions(q, d, ql, dl, topk=min(R, 9000), tie_order="index")
        np.testing.assert_allclose(rt.average_precisions(q, d, ql, dl, topk=R), want, atol=1e-12, err_msg=f"R={R}")
    np.testing.assert_array_equal(rt.average_precisions(q, d, ql, dl, topk=20_000),
                                  rt.average_precisions(q, d, ql, dl, topk=None))
