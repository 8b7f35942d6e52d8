"""hashnet_lite.retrieval.index.HammingIndex against brute force, for every backend this machine has.

"numpy" and "faiss_mih" must return exactly the brute-force answer with ties by index;
"faiss" (IndexBinaryFlat) picks its own members of the tie at the k-th distance, so there
the distances, the items strictly closer than the k-th, and the sort order are checked.
"""
from __future__ import annotations

import numpy as np
import pytest

from hashnet_lite import retrieval as rt
from hashnet_lite.retrieval import index as hi
from hashnet_lite.retrieval import kernels
from hashnet_lite.retrieval.index import HammingIndex

HAVE_FAISS = hi._import_faiss() is not None
BACKENDS = ["numpy-numba", "numpy-plain", "faiss", "faiss_mih"]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    name = request.param
    if name.startswith("faiss") and not HAVE_FAISS:
        pytest.skip("faiss is not installed (pip install faiss-cpu): the numpy backend is tested instead")
    if name == "numpy-numba" and kernels.numba is None:
        pytest.skip("numba is not installed: only the plain numpy path exists here")
    monkeypatch.setattr(kernels, "USE_NUMBA", name == "numpy-numba")
    return name.split("-")[0]


def data(bits, n=300, n_queries=25, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.where(rng.random((4, bits)) < 0.5, 1, -1)
    d = centres[rng.integers(0, 4, n)] * np.where(rng.random((n, bits)) < 0.15, -1, 1)  # clustered: small radii find items
    q = centres[rng.integers(0, 4, n_queries)] * np.where(rng.random((n_queries, bits)) < 0.15, -1, 1)
    return q.astype(np.int8), d.astype(np.int8)


def brute(q, d):
    return (q.shape[1] - q.astype(int) @ d.T.astype(int)) // 2


@pytest.mark.parametrize("bits", [5, 12, 32, 64, 70])
@pytest.mark.parametrize("k", [1, 10, 300])
def test_search_matches_brute_force(bits, k, backend):
    q, d = data(bits)
    index = HammingIndex(d, backend=backend)
    assert index.backend == backend and len(index) == 300 and index.bits == bits
    dist, idx = index.search(q, k)
    assert dist.shape == idx.shape == (len(q), k) and dist.dtype == np.int32 and idx.dtype == np.int64
    full = brute(q, d)
    for i in range(len(q)):
        order = sorted(range(len(d)), key=lambda j: (full[i, j], j))[:k]  # ties by index
        want_d = full[i, order]
        np.testing.assert_array_equal(dist[i], want_d)
        np.testing.assert_array_equal(full[i, idx[i]], dist[i])  # the distances belong to the items
        assert list(zip(dist[i], idx[i])) == sorted(zip(dist[i], idx[i]))  # sorted by (distance, index)
        if backend == "faiss":  # faiss chooses which members of the last tie make the cut
            closer = want_d < want_d[-1]
            np.testing.assert_array_equal(idx[i][closer], np.array(order)[closer])
            assert len(set(idx[i])) == k
        else:
            np.testing.assert_array_equal(idx[i], order)


@pytest.mark.parametrize("bits", [5, 12, 64, 70])
@pytest.mark.parametrize("r", [0, 2, 7, 70])
def test_range_search_matches_brute_force(bits, r, backend):
    q, d = data(bits, seed=1)
    dists, idxs = HammingIndex(d, backend=backend).range_search(q, r)
    assert len(dists) == len(idxs) == len(q)
    full = brute(q, d)
    for i in range(len(q)):
        order = sorted((j for j in range(len(d)) if full[i, j] <= r), key=lambda j: (full[i, j], j))
        np.testing.assert_array_equal(idxs[i], order)
        np.testing.assert_array_equal(dists[i], full[i, order])
        assert dists[i].dtype == np.int32 and idxs[i].dtype == np.int64


def test_a_single_code_is_one_query(backend):
    q, d = data(16)
    index = HammingIndex(d, backend=backend)
    dist, idx = index.search(q[0], 3)
    assert dist.shape == (1, 3)
    np.testing.assert_array_equal(dist, index.search(q[:1], 3)[0])
    assert len(index.range_search(q[0], 4)[1]) == 1


def test_auto_backend_and_missing_faiss(monkeypatch):
    _, d = data(8)
    assert HammingIndex(d).backend == ("faiss" if HAVE_FAISS else "numpy")
    monkeypatch.setattr(hi, "_import_faiss", lambda: None)
    assert HammingIndex(d).backend == "numpy"
    for backend in ("faiss", "faiss_mih"):
        with pytest.raises(ValueError, match=f"backend='{backend}' needs faiss"):
            HammingIndex(d, backend=backend)


def test_bad_input(backend):
    q, d = data(16)
    index = HammingIndex(d, backend=backend)
    with pytest.raises(ValueError, match="k=301 is more than the 300 items"):
        index.search(q, 301)
    with pytest.raises(ValueError, match="k=0"):
        index.search(q, 0)
    with pytest.raises(ValueError, match="r=-1"):
        index.range_search(q, -1)
    with pytest.raises(ValueError, match="query_codes has 15 bits but the index holds 16-bit codes"):
        index.search(q[:, :15], 1)
    with pytest.raises(ValueError, match="query_codes holds the value 0"):
        index.search(q * 0, 1)
    with pytest.raises(ValueError, match="codes holds the value -?2"):
        HammingIndex(d * 2, backend=backend)
    with pytest.raises(ValueError, match="backend='annoy'"):
        HammingIndex(d, backend="annoy")


def test_index_does_not_modify_or_keep_a_reference_to_the_codes(backend):
    q, d = data(16)
    keep = d.copy()
    index = HammingIndex(d, backend=backend)
    before = index.search(q, 5)
    d[:] = 1  # the caller reuses the array
    np.testing.assert_array_equal(index.search(q, 5)[1], before[1])
    np.testing.assert_array_equal(HammingIndex(keep, backend=backend).search(q, 5)[1], before[1])


def test_hamming_index_is_reachable_from_retrieval():
    assert rt.HammingIndex is HammingIndex
    import hashnet_lite

    assert hashnet_lite.HammingIndex is HammingIndex
