"""Speed and peak memory of the mAP@R evaluation: ours vs the usual per-query loop vs faiss.

For several database sizes it times, on the same synthetic codes,

- ours:            hashnet_lite.retrieval.mean_average_precision(topk=R) (ties by index),
                   with the numba kernels, then forced onto its numpy path, then tie-aware;
- loop:            the per-query loop with a full argsort that most repositories use (the
                   DeepHash-pytorch CalcTopMap pattern), written here from its description;
                   run on a subset of the queries and extrapolated linearly (it is said so);
- faiss:           faiss.IndexBinaryFlat top-R search + AP of the returned lists;

each in a fresh subprocess, so that the peak resident memory reported (ru_maxrss) is that
process's own: imports + data + evaluation. Ratios ("x ours") are against ours in the same
run, for wall-clock time and for CPU time (user + system, all threads: the work done, which
other load on the machine does not change). Each
threaded method runs with the default threads and with 1 thread, each --repeat times, and
keeps its fastest run (on a busy 2-core machine 2 threads can lose), so no ratio is
flattered by a bad setting or an unlucky moment.
It also prints how much the tie rule moves mAP@R on these codes (relevant items first vs last
inside every tie), on a subset of queries.

    python benchmarks/eval_speed.py            # ImageNet-100 size: 5,000 x 128,503 x 64 bits, R = 1000
    python benchmarks/eval_speed.py --quick    # 1,000 queries, databases of 10k and 50k items

Synthetic codes: each class has a random +-1 centre; an item is its class's centre with every
bit flipped with probability --flip. With 64 bits, 128,503 items share 65 possible distances,
so the ties are as heavy as with trained codes.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def make_data(n_database: int, n_queries: int, bits: int, classes: int, flip: float, seed: int):
    """Clustered +-1 codes (int8) and class ids; the same arguments give the same data."""
    rng = np.random.default_rng(seed)
    centres = np.where(rng.random((classes, bits)) < 0.5, 1, -1).astype(np.int8)

    def draw(n):
        labels = rng.integers(0, classes, n)
        return centres[labels] * np.where(rng.random((n, bits)) < flip, -1, 1).astype(np.int8), labels

    database, database_labels = draw(n_database)
    queries, query_labels = draw(n_queries)
    return queries, database, query_labels, database_labels


def loop_map(queries, database, query_onehot, database_onehot, topk):
    """The common per-query evaluation: for each query a Hamming product over the whole
    database, a full argsort, relevance by a label product, AP of the top list; queries with
    no relevant item in the top list count 0 (divided by the number of queries)."""
    bits = queries.shape[1]
    total = 0.0
    for i in range(len(queries)):
        gnd = (database_onehot @ query_onehot[i] > 0).astype(np.float32)  # (N,) relevance
        hamming = 0.5 * (bits - database @ queries[i])  # (N,)
        top = gnd[np.argsort(hamming)][:topk]
        n_rel = int(top.sum())
        if n_rel:
            positions = np.flatnonzero(top == 1) + 1.0
            total += np.mean(np.arange(1, n_rel + 1) / positions)
    return total / len(queries)


def faiss_map(queries, database, query_labels, database_labels, topk):
    """faiss IndexBinaryFlat top-k, then AP of each returned list (ties in faiss's order)."""
    import faiss
    index = faiss.IndexBinaryFlat(queries.shape[1])
    index.add(np.packbits(database > 0, axis=1))
    _, idx = index.search(np.packbits(queries > 0, axis=1), topk)
    rel = database_labels[idx] == query_labels[:, None]  # (Q, R)
    hits = np.cumsum(rel, axis=1)
    n_rel = hits[:, -1]
    ap_sum = np.where(rel, hits / np.arange(1, topk + 1), 0.0).sum(1)
    return float(np.mean(np.divide(ap_sum, n_rel, out=np.zeros(len(n_rel)), where=n_rel > 0)))


def tie_spread(queries, database, query_labels, database_labels, topk):
    """mAP@R with relevant items first / last inside every tie (numpy, chunked), and the mean
    size of the tie that holds rank R."""
    from hashnet_lite.retrieval import hamming_distance
    out = {"first": [], "last": [], "tie_at_R": []}
    for start in range(0, len(queries), 200):
        dist = hamming_distance(queries[start:start + 200], database).astype(np.int32)  # (200, N)
        rel = database_labels[None, :] == query_labels[start:start + 200, None]
        cut = np.sort(dist, axis=1)[:, topk - 1]
        out["tie_at_R"] += list((dist == cut[:, None]).sum(1))
        for name, key in (("first", 2 * dist + ~rel), ("last", 2 * dist + rel)):
            order = np.argsort(key, axis=1, kind="stable")[:, :topk]
            top = np.take_along_axis(rel, order, axis=1)
            hits = np.cumsum(top, axis=1)
            n_rel = hits[:, -1]
            ap = np.where(top, hits / np.arange(1, topk + 1), 0.0).sum(1)
            out[name] += list(np.divide(ap, n_rel, out=np.zeros(len(n_rel)), where=n_rel > 0))
    return {k: float(np.mean(v)) for k, v in out.items()}


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads: the work done, whatever the load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args) -> None:
    """One measurement in this process: prints a JSON line."""
    sys.path.insert(0, ROOT)
    from hashnet_lite import retrieval
    from hashnet_lite.retrieval import kernels  # USE_NUMBA is read there at call time
    q, d, ql, dl = make_data(args.database, args.queries, args.bits, args.classes, args.flip, args.seed)
    R = args.topk
    result = {}
    if args.method.startswith("ours"):
        kernels.USE_NUMBA = args.method != "ours_numpy"
        ties = "tie_aware" if args.method == "ours_tie_aware" else "index"
        retrieval.mean_average_precision(q[:2], d[:2000], ql[:2], dl[:2000], topk=10, ties=ties)  # JIT / cache load
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t, c = time.perf_counter(), cpu_seconds()
        result["map"] = retrieval.mean_average_precision(q, d, ql, dl, topk=R, ties=ties)
        result["time"], result["cpu"] = time.perf_counter() - t, cpu_seconds() - c
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["before_mb"] = rss_before / 1024
        if args.method == "ours":  # the same metric on the loop's subset, for comparing values
            sub = slice(0, args.loop_queries)
            result["map_subset"] = retrieval.mean_average_precision(q[sub], d, ql[sub], dl, topk=R)
    elif args.method == "loop":
        sub = slice(0, min(args.loop_queries, len(q)))
        onehot = np.eye(args.classes, dtype=np.float32)
        qf, df, qo, do = q[sub].astype(np.float32), d.astype(np.float32), onehot[ql[sub]], onehot[dl]
        t, c = time.perf_counter(), cpu_seconds()
        result["map_subset"] = loop_map(qf, df, qo, do, R)
        scale = len(q) / (sub.stop - sub.start)  # extrapolated to all queries
        result["time"], result["cpu"] = (time.perf_counter() - t) * scale, (cpu_seconds() - c) * scale
        result["measured_queries"] = sub.stop - sub.start
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elif args.method == "faiss":
        import faiss  # noqa: F401 (imported before the clock starts, as numba is for ours)
        t, c = time.perf_counter(), cpu_seconds()
        result["map"] = faiss_map(q, d, ql, dl, R)
        result["time"], result["cpu"] = time.perf_counter() - t, cpu_seconds() - c
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elif args.method == "ties":
        sub = slice(0, min(args.tie_queries, len(q)))
        result.update(tie_spread(q[sub], d, ql[sub], dl, R))
        result["measured_queries"] = sub.stop - sub.start
        kernels.USE_NUMBA = True
        result["index"] = retrieval.mean_average_precision(q[sub], d, ql[sub], dl, topk=R)
        result["tie_aware"] = retrieval.mean_average_precision(q[sub], d, ql[sub], dl, topk=R, ties="tie_aware")
    print(json.dumps(result))


def run_child(args, method: str, n_database: int, env: dict | None = None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", method, "--database", str(n_database)]
    for name in ("queries", "bits", "classes", "topk", "flip", "seed", "loop_queries", "tie_queries"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode:
        sys.exit(f"{method} at database size {n_database} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 queries, databases of 10k and 50k items")
    p.add_argument("--sizes", default="10000,50000,128503", help="database sizes, comma-separated")
    p.add_argument("--queries", type=int, default=5000)
    p.add_argument("--bits", type=int, default=64)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--topk", type=int, default=1000)
    p.add_argument("--flip", type=float, default=0.2, help="bit-flip probability around the class centre")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--loop-queries", type=int, default=200, help="queries the slow loop really runs")
    p.add_argument("--tie-queries", type=int, default=1000, help="queries for the tie-rule spread")
    p.add_argument("--repeat", type=int, default=2, help="runs per method and thread setting; the fastest counts")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--database", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.method = args.child
        return child(args)
    if args.quick:
        args.sizes, args.queries, args.loop_queries, args.tie_queries = "10000,50000", 1000, 100, 500
    sizes = [int(s) for s in args.sizes.split(",")]

    try:
        import numba
        have_numba = f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)"
    except ImportError:
        have_numba = "numba not installed (ours runs its numpy path)"
    try:
        import faiss
        have_faiss = f"faiss {faiss.__version__}"
    except ImportError:
        faiss, have_faiss = None, "faiss not installed"
    print(f"# {os.cpu_count()} CPU cores, {have_numba}, "
          f"numpy {np.__version__}, {have_faiss}; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"# {args.queries} queries, {args.bits} bits, {args.classes} classes, R = {args.topk}, flip = {args.flip}, "
          f"seed = {args.seed}; each row in a fresh process; peak = that process's max RSS")
    print(f"{'database':>9} {'method':<15} {'time_s':>7} {'x ours':>6} {'cpu_s':>7} {'x ours':>6} {'mAP@R':>7} "
          f"{'peak_MB':>7}  note")
    methods = ["ours", "ours_numpy", "ours_tie_aware", "loop"] + (["faiss"] if faiss is not None else [])
    for n in sizes:
        res = {}
        for m in methods:
            # every threaded method also runs on 1 thread, and each setting --repeat times; the
            # fastest run counts: the loop's matrix-vector products (BLAS), faiss's OpenMP scan
            # and our numba kernels can all lose on 2 threads when the machine is busy
            settings = [({}, "default threads")] + ([(ONE_THREAD, "1 thread")] if m != "ours_numpy" else [])
            runs = [dict(run_child(args, m, n, env), threads=label)
                    for env, label in settings for _ in range(1 if m == "ours_numpy" else args.repeat)]
            res[m] = min(runs, key=lambda r: r["time"])
        base = res["ours"]["time"]
        for m in methods:
            r = res[m]
            note = f"{r['threads']}"
            if m == "ours":
                note += (f"; RSS before evaluating {r['before_mb']:.0f} MB; "
                         f"mAP on the loop's {args.loop_queries} queries {r['map_subset']:.4f}")
            if m == "loop":
                note += (f"; ran {r['measured_queries']} queries, time x{args.queries / r['measured_queries']:.0f} "
                         "(extrapolated); mAP on those queries, argsort's tie order")
            if m == "faiss":
                note += "; IndexBinaryFlat top-R + AP, faiss's tie order"
            value = r.get("map", r.get("map_subset"))
            print(f"{n:>9} {m:<15} {r['time']:>7.2f} {r['time'] / base:>6.1f} {r['cpu']:>7.2f} "
                  f"{r['cpu'] / res['ours']['cpu']:>6.1f} {value:>7.4f} {r['peak_mb']:>7.0f}  {note}", flush=True)
        if n == sizes[-1]:
            summary = (f"# largest database ({n} items, {args.queries} queries): ours {base:.2f} s, peak RSS "
                       f"{res['ours']['peak_mb']:.0f} MB; the loop takes {res['loop']['time'] / base:.0f}x as long")
            if "faiss" in res:
                summary += f", faiss top-R + AP {res['faiss']['time'] / base:.1f}x"
    print(summary)
    ties = run_child(args, "ties", sizes[-1])
    print(f"# tie rule at database {sizes[-1]}, R = {args.topk}, on {ties['measured_queries']} queries: "
          f"mAP relevant-last {ties['last']:.4f}, by index {ties['index']:.4f}, tie-aware {ties['tie_aware']:.4f}, "
          f"relevant-first {ties['first']:.4f}; the tie holding rank R has {ties['tie_at_R']:.0f} items on average")


if __name__ == "__main__":
    main()
