"""Where the time of mAP@R goes: each phase of the numba path timed on its own.

The ImageNet-100 size (1,000 queries x 128,503 database items x 64 bits, 100 classes, R =
1000, the synthetic codes of eval_speed.py), one thread, each phase best of --repeat:

- popcount:  the Hamming distances of every query to every item, and nothing else (the bound
             that any exact linear scan pays; a kernel written here around the package's);
- top-R:     kernels._topk: the distances, a sampled radius, the candidates inside it and a
             counting sort of them (ties by index);
- AP:        the AP sums over the top R (label comparisons of 1,000 x 1,000 items);
- totals:    the number of relevant items per query (through the distinct label rows);
- all:       retrieval.mean_average_precision itself, with its checks and packing;
- faiss:     IndexBinaryFlat top-R + the same AP, for scale.

    python benchmarks/eval_profile.py [--queries 1000] [--database 128503] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_speed import make_data  # noqa: E402  the same synthetic codes

import numba  # noqa: E402

from hashnet_lite import retrieval  # noqa: E402
from hashnet_lite.retrieval import kernels  # noqa: E402


@numba.njit(parallel=True, cache=True)
def _distances_only(qw, dw, sink):
    for i in numba.prange(qw.shape[0]):
        dist = np.empty(dw.shape[0], np.uint16)
        kernels._nb_distances(qw, i, dw, dist)
        sink[i] = dist[i % dw.shape[0]]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--database", type=int, default=128_503)
    p.add_argument("--bits", type=int, default=64)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--topk", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    numba.set_num_threads(1)
    qc, dc, ql, dl = make_data(args.database, args.queries, args.bits, args.classes, 0.2, 0)
    pack = lambda c: np.packbits(np.asarray(c) > 0, axis=1).view(">u8").astype(np.uint64)  # noqa: E731
    qw, dw = pack(qc), pack(dc)
    ids_q, ids_d = ql[:, None].astype(np.int64), dl[:, None].astype(np.int64)  # class ids, one column
    sink = np.empty(len(qw), np.uint16)
    _distances_only(qw[:2], dw, sink[:2])  # compile outside the timings
    kernels._topk(qw[:2], dw, args.topk)
    _, idx = kernels._topk(qw, dw, args.topk)
    ap_sum, n_rel = np.empty(len(qw)), np.empty(len(qw), np.int64)
    kernels._nb_ap_sums(ids_q, ids_d, True, idx, ap_sum, n_rel)
    retrieval.mean_average_precision(qc[:2], dc, ql[:2], dl, topk=args.topk)
    rows = {
        "popcount": best(lambda: _distances_only(qw, dw, sink), args.repeat),
        "top-R": best(lambda: kernels._topk(qw, dw, args.topk), args.repeat),
        "AP": best(lambda: kernels._nb_ap_sums(ids_q, ids_d, True, idx, ap_sum, n_rel), args.repeat),
        "totals": best(lambda: kernels._relevant_totals(ids_q, ids_d, True), args.repeat),
        "all": best(lambda: retrieval.mean_average_precision(qc, dc, ql, dl, topk=args.topk), args.repeat),
    }
    try:
        import faiss

        faiss.omp_set_num_threads(1)
        index = faiss.IndexBinaryFlat(args.bits)
        index.add(np.packbits(dc > 0, axis=1))

        def with_faiss():
            _, found = index.search(np.packbits(qc > 0, axis=1), args.topk)
            kernels._nb_ap_sums(ids_q, ids_d, True, found.astype(np.int64), ap_sum, n_rel)
        rows["faiss top-R + AP"] = best(with_faiss, args.repeat)
    except ImportError:
        pass
    load = os.getloadavg()[0]
    print(f"# {args.queries} queries x {args.database} items x {args.bits} bits, R = {args.topk}, 1 thread, "
          f"best of {args.repeat}; load average {load:.1f}")
    for name, seconds in rows.items():
        print(f"{name:>18} {seconds:7.3f} s  {seconds / rows['all']:5.2f} x all")


if __name__ == "__main__":
    main()
