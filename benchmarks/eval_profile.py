"""Where the time of mAP@R goes: each phase of the numba path timed on its own, beside faiss.

The ImageNet-100 size (1,000 queries x 128,503 database items x 64 bits, 100 classes, R =
1000, the synthetic codes of eval_speed.py), one thread:

- popcount:  the Hamming distances of every query to every item, and nothing else (the bound
             that any exact linear scan pays; a kernel written here around the package's);
- guess:     the radius guessed per query from the distances of a sample (kernels.SAMPLE items);
- scan:      guess + the one pass that keeps the items within the radius (kernels._nb_within);
- top-R:     kernels._topk, all of it: guess, scan, and the counting sort of the kept items;
- AP:        the AP sums over the top R (label comparisons of 1,000 x 1,000 items);
- inputs:    retrieval's checks and packing of codes and labels, and its count of queries with
             no relevant item (what `all` does besides top-R and AP);
- all:       retrieval.mean_average_precision itself;
- top-R + AP: kernels._index_ap, the two together as mean_average_precision runs them;
- baseline:  with --baseline FILE, the same for another kernels.py (an older commit's, say);
- faiss:     IndexBinaryFlat top-R + the same AP (faiss's own tie order), when faiss is installed.

The machine may be shared, so the phases take turns (one round times each once, --repeat
rounds) and each is reported by its best and median wall-clock time and its best CPU time
(user + system of the process, which waiting for a busy core does not count). Ratios are
taken within this one run.

    python benchmarks/eval_profile.py [--queries 1000] [--database 128503] [--repeat 7]
    git show REV:hashnet_lite/retrieval/kernels.py > /tmp/kernels_rev.py
    python benchmarks/eval_profile.py --baseline /tmp/kernels_rev.py
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_speed import make_data  # noqa: E402  the same synthetic codes
from machine import cpu_model  # noqa: E402

import numba  # noqa: E402

from hashnet_lite import retrieval  # noqa: E402
from hashnet_lite.retrieval import _inputs, kernels, metrics  # noqa: E402


@numba.njit(cache=True)
def _distances_only(qw, dw, sink):
    dist = np.empty(dw.shape[0], np.uint16)
    for i in range(qw.shape[0]):
        kernels._nb_distances(qw, i, dw, dist)
        sink[i] = dist[i % dw.shape[0]]


@numba.njit(cache=True)
def _guess_only(qw, dw, k, sink):
    hist = np.zeros(64 * qw.shape[1] + 1, np.int64)
    for i in range(qw.shape[0]):
        sink[i] = kernels._nb_guess_radius(qw, i, dw, k, hist)


@numba.njit(cache=True)
def _scan_only(qw, dw, k, sink):
    n, kmax = dw.shape[0], 64 * qw.shape[1]
    tile, flag = np.empty(kernels.TILE, np.uint16), np.zeros(kernels.TILE, np.uint8)
    glist, hist = np.empty(kernels.TILE // 8, np.int64), np.zeros(kmax + 1, np.int64)
    cand, cand_d = np.empty(n, np.int64), np.empty(n, np.uint16)
    for i in range(qw.shape[0]):
        guess = kernels._nb_guess_radius(qw, i, dw, k, hist)
        sink[i] = kernels._nb_within(qw, i, dw, guess, k, tile, flag, glist, hist, cand, cand_d)[0]


def _inputs_only(qc, dc, ql, dl):
    qw, dw, _ = _inputs._codes(qc, dc)
    labels = _inputs._labels(ql, dl, qw.shape[0], dw.shape[0])
    metrics._count_unanswerable(*labels)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--database", type=int, default=128_503)
    p.add_argument("--bits", type=int, default=64)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--topk", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--baseline", type=Path, help="another kernels.py whose top-R + AP is timed alongside")
    args = p.parse_args()
    numba.set_num_threads(1)
    qc, dc, ql, dl = make_data(args.database, args.queries, args.bits, args.classes, 0.2, 0)
    qw, dw, _ = _inputs._codes(qc, dc)
    ids_q, ids_d = ql[:, None].astype(np.uint64), dl[:, None].astype(np.uint64)  # class ids, one column
    sink = np.empty(len(qw), np.int64)
    _, idx = kernels._topk(qw, dw, args.topk)  # also compiles (or loads) the kernels
    ap_sum, n_rel = np.empty(len(qw)), np.empty(len(qw), np.int64)
    phases = {
        "popcount": lambda: _distances_only(qw, dw, sink),
        "guess": lambda: _guess_only(qw, dw, args.topk, sink),
        "scan": lambda: _scan_only(qw, dw, args.topk, sink),
        "top-R": lambda: kernels._topk(qw, dw, args.topk),
        "AP": lambda: kernels._nb_ap_sums(ids_q, ids_d, True, idx, ap_sum, n_rel),
        "top-R + AP": lambda: kernels._index_ap(qw, dw, ids_q, ids_d, True, args.topk),
        "inputs": lambda: _inputs_only(qc, dc, ql, dl),
        "all": lambda: retrieval.mean_average_precision(qc, dc, ql, dl, topk=args.topk),
    }
    if args.baseline:
        spec = importlib.util.spec_from_file_location("baseline_kernels", args.baseline)
        baseline = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # numba's cache looks it up
        spec.loader.exec_module(baseline)
        phases["baseline top-R + AP"] = lambda: baseline._index_ap(qw, dw, ids_q, ids_d, True, args.topk)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
        index = faiss.IndexBinaryFlat(args.bits)
        index.add(np.packbits(dc > 0, axis=1))
        packed_queries = np.packbits(qc > 0, axis=1)

        def with_faiss():
            _, found = index.search(packed_queries, args.topk)
            kernels._nb_ap_sums(ids_q, ids_d, True, found.astype(np.int64), ap_sum, n_rel)
        phases["faiss top-R + AP"] = with_faiss
    except ImportError:
        pass
    for fn in phases.values():  # compile the script's kernels, warm the caches
        fn()
    load_before = os.getloadavg()[0]
    wall = {name: [] for name in phases}
    cpu = {name: [] for name in phases}
    for _ in range(args.repeat):
        for name, fn in phases.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    load_after = os.getloadavg()[0]
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs; numba {numba.__version__} on 1 thread; "
          f"load average {load_before:.1f} before, {load_after:.1f} after")
    print(f"# {args.queries} queries x {args.database} items x {args.bits} bits, R = {args.topk}; "
          f"{args.repeat} rounds, the phases in turn")
    print(f"{'':>19} {'wall best':>10} {'median':>8} {'cpu best':>9} {'x all (cpu)':>12}")
    best_cpu = {name: min(times) for name, times in cpu.items()}
    for name in phases:
        print(f"{name:>19} {min(wall[name]):9.3f}s {statistics.median(wall[name]):7.3f}s "
              f"{best_cpu[name]:8.3f}s {best_cpu[name] / best_cpu['all']:11.2f}")
    _scan_only(qw, dw, args.topk, sink)
    print(f"# the scan kept {sink.mean():.0f} items per query on average (R = {args.topk})")
    if "faiss top-R + AP" in phases:
        f, a = "faiss top-R + AP", "all"
        print(f"# faiss top-R + AP over all: {min(wall[f]) / min(wall[a]):.2f}x by best wall-clock, "
              f"{statistics.median(wall[f]) / statistics.median(wall[a]):.2f}x by median, "
              f"{best_cpu[f] / best_cpu[a]:.2f}x by best CPU time")
    if args.baseline:
        b, o = "baseline top-R + AP", "top-R + AP"
        print(f"# baseline top-R + AP over ours: {min(wall[b]) / min(wall[o]):.2f}x by best wall-clock, "
              f"{statistics.median(wall[b]) / statistics.median(wall[o]):.2f}x by median, "
              f"{best_cpu[b] / best_cpu[o]:.2f}x by best CPU time")


if __name__ == "__main__":
    main()
