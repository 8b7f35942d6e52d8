"""Exact k-nearest-neighbour and range search in Hamming space, on packed bits.

``HammingIndex(codes, backend=...)`` stores +-1 codes as packed bits (1 bit per code bit, 8x
smaller than int8 codes) and answers ``search(q, k)`` (the k nearest) and ``range_search(q, r)``
(everything within Hamming distance r). Backends:

- ``"numpy"``: exhaustive and exact; ties ordered by database index. It uses the compiled
  top-k kernel of :mod:`hashnet_lite.retrieval.kernels` when numba is installed (one popcount pass per
  query plus a counting sort over the K + 1 distances), chunked numpy otherwise.
- ``"faiss"``: ``faiss.IndexBinaryFlat``, faiss's exhaustive popcount scan. Distances are exact
  and results come back sorted by (distance, index), but which items of the tie at the k-th
  distance make the cut is faiss's choice (its heap), so only the members of that last tie
  may differ from "numpy". ``range_search`` answers are identical to "numpy".
- ``"faiss_mih"``: ``faiss.IndexBinaryMultiHash``, multi-index hashing (Norouzi, Punjani,
  Fleet, TPAMI 2014). The code is cut into ``nhash`` substrings of ``b`` bits; if
  d(q, x) <= r then some substring of x differs from q's in at most floor(r / nhash) bits
  (pigeonhole), so probing every bucket within nflip = floor(r / nhash) flips finds every
  item within r: ``range_search`` is exact. ``search`` grows the radius (nflip = 0, 1, ...)
  until the k nearest are certain, so its answers are identical to "numpy" (ties by index).
  It pays off for small radii (precision within radius 2) and small k.
- ``"auto"`` (default): "faiss" when faiss can be imported, else "numpy".
"""
from __future__ import annotations

import numpy as np

from ._inputs import _code_bits, _integer, _option, _pack_words, _to_numpy
from .kernels import _chunks, _hamming_block, _topk

_BACKENDS = ("auto", "numpy", "faiss", "faiss_mih")


def _import_faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _sorted_lists(lims: np.ndarray, distances: np.ndarray, labels: np.ndarray):
    """faiss range-search output -> per-query arrays sorted by (distance, index)."""
    out_d, out_i = [], []
    for a, b in zip(lims[:-1], lims[1:]):
        order = np.lexsort((labels[a:b], distances[a:b]))
        out_d.append(distances[a:b][order].astype(np.int32))
        out_i.append(labels[a:b][order].astype(np.int64))
    return out_d, out_i


class HammingIndex:
    """Search +-1 codes (N, K) by Hamming distance; see the module docstring for ``backend``.

    Example::

        index = HammingIndex(database_codes)
        distances, indices = index.search(query_codes, k=10)     # (Q, 10) each
        distances, indices = index.range_search(query_codes, r=2)  # lists of Q arrays
    """

    def __init__(self, codes, *, backend: str = "auto"):
        _option("backend", backend, _BACKENDS)
        bits = _code_bits(codes, "codes")
        self.bits, self.ntotal = bits.shape[1], bits.shape[0]
        faiss = _import_faiss() if backend != "numpy" else None
        if backend in ("faiss", "faiss_mih") and faiss is None:
            raise ValueError(f"backend={backend!r} needs faiss (pip install faiss-cpu); use 'numpy' or 'auto'")
        self.backend = ("faiss" if faiss is not None else "numpy") if backend == "auto" else backend
        self._words = _pack_words(bits)  # (N, W) uint64 for the numpy backend
        if self.backend != "numpy":
            packed = np.packbits(bits, axis=1)  # (N, ceil(K / 8)) uint8, faiss's layout
            dim = 8 * packed.shape[1]
            if self.backend == "faiss":
                self._faiss = faiss.IndexBinaryFlat(dim)
            else:
                # substrings of 16 bits (8 for an odd number of bytes) that tile all the bits
                self.b = 16 if packed.shape[1] % 2 == 0 else 8
                self.nhash = dim // self.b
                self._faiss = faiss.IndexBinaryMultiHash(dim, self.nhash, self.b)
            self._faiss.add(packed)

    def _queries(self, query_codes) -> np.ndarray:
        q = _to_numpy(query_codes, "query_codes")
        bits = _code_bits(q[None, :] if q.ndim == 1 else q, "query_codes")
        if bits.shape[1] != self.bits:
            raise ValueError(f"query_codes has {bits.shape[1]} bits but the index holds {self.bits}-bit codes")
        return bits

    def search(self, query_codes, k: int):
        """The k nearest items of each query: distances int32 (Q, k), indices int64 (Q, k),
        sorted by (distance, index). A single code (K,) counts as one query."""
        bits = self._queries(query_codes)
        k = _integer("k", k, 1)
        if k > self.ntotal:
            raise ValueError(f"k={k} is more than the {self.ntotal} items in the index")
        if self.backend == "numpy":
            return _topk(_pack_words(bits), self._words, k)
        packed = np.packbits(bits, axis=1)
        if self.backend == "faiss":
            distances, labels = self._faiss.search(packed, k)
            order = np.lexsort((labels, distances))  # faiss's tie order -> (distance, index)
            return (np.take_along_axis(distances, order, 1).astype(np.int32),
                    np.take_along_axis(labels, order, 1).astype(np.int64))
        return self._mih_search(packed, k)

    def _mih_search(self, packed: np.ndarray, k: int):
        out_d, out_i = np.empty((len(packed), k), np.int32), np.empty((len(packed), k), np.int64)
        pending = np.arange(len(packed))
        for nflip in range(self.b + 1):
            # with nflip flips per substring every item within this radius is found (pigeonhole)
            radius = min(self.nhash * (nflip + 1) - 1, self.bits)
            self._faiss.nflip = nflip
            lims, distances, labels = self._faiss.range_search(packed[pending], radius + 1)  # faiss: d < radius
            done = np.zeros(len(pending), bool)
            for pos, (d, i) in enumerate(zip(*_sorted_lists(lims, distances, labels))):
                if len(i) >= k:  # the k nearest are all within the radius: final
                    out_d[pending[pos]], out_i[pending[pos]], done[pos] = d[:k], i[:k], True
            pending = pending[~done]
            if not len(pending):
                break
        return out_d, out_i

    def range_search(self, query_codes, r: int):
        """Every item within Hamming distance r (d <= r) of each query: two lists of Q arrays,
        distances int32 and indices int64, each sorted by (distance, index)."""
        bits = self._queries(query_codes)
        r = _integer("r", r, 0)
        if self.backend == "numpy":
            qw, out_d, out_i = _pack_words(bits), [], []
            for rows in _chunks(len(qw), self.ntotal * (10 * qw.shape[1] + 4)):
                for dist in _hamming_block(qw[rows], self._words):
                    idx = np.flatnonzero(dist <= r)  # index order
                    order = np.argsort(dist[idx], kind="stable")
                    out_d.append(dist[idx][order].astype(np.int32))
                    out_i.append(idx[order].astype(np.int64))
            return out_d, out_i
        if self.backend == "faiss_mih":
            self._faiss.nflip = min(r // self.nhash, self.b)
        lims, distances, labels = self._faiss.range_search(np.packbits(bits, axis=1), r + 1)  # faiss: d < radius
        return _sorted_lists(lims, distances, labels)

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        return f"HammingIndex(ntotal={self.ntotal}, bits={self.bits}, backend={self.backend!r})"
