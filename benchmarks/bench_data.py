"""Cost of the data layer: loading Fashion-MNIST and serving batches.

    python benchmarks/bench_data.py [--spec fashion-mnist]

Prints the load time and memory of ``load_data(spec)``, the time to iterate 5,000
training items in batches of 64 through a DataLoader, and the same with the per-batch
uint8 -> float32 conversion done by torch instead of numpy (the ratio shows why
ArrayDataset converts in numpy: on a busy 2-core machine torch's OpenMP threads make each
small conversion wait for a descheduled thread).
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from hashnet_lite.data import ArrayDataset, load_data


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(l for l in f if l.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class TorchConvertDataset(ArrayDataset):
    """The same batches, converted with torch ops (the baseline)."""

    def _batch(self, idx, augment):
        rows = torch.as_tensor(self.index[np.asarray(idx)] if self.index is not None else idx)
        x = torch.from_numpy(self.x)[rows]
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        return x, torch.from_numpy(self.y)[rows].float()


def iterate(dataset, n_items: int, batch_size: int = 64) -> float:
    sub = torch.utils.data.Subset(dataset, range(min(n_items, len(dataset))))
    start = time.perf_counter()
    for _ in DataLoader(sub, batch_size=batch_size, shuffle=True):
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="fashion-mnist")
    parser.add_argument("--items", type=int, default=5000)
    args = parser.parse_args()

    before_rss, before_peak = rss_mb(), peak_mb()
    start = time.perf_counter()
    data = load_data(args.spec)
    load_s = time.perf_counter() - start
    print(f"load_data({args.spec!r}): {load_s:.2f} s; RSS +{rss_mb() - before_rss:.0f} MB after, "
          f"peak +{max(0.0, peak_mb() - before_peak):.0f} MB during (RSS before: {before_rss:.0f} MB)")
    print(f"  {data.protocol}")
    x = data.train.x
    print(f"  stored inputs: {x.shape} {x.dtype} = {x.nbytes / 2**20:.0f} MiB, shared by the 3 parts")

    ours = iterate(data.train, args.items)
    base = TorchConvertDataset(data.train.x, data.train.y, index=data.train.index)
    theirs = iterate(base, args.items)
    print(f"iterate {args.items} training items, batches of 64: numpy conversion {ours * 1e3:.0f} ms, "
          f"torch conversion {theirs * 1e3:.0f} ms (ratio torch/numpy {theirs / ours:.1f}x; "
          f"torch threads: {torch.get_num_threads()})")

    start = time.perf_counter()
    db = data.arrays("database")
    print(f"arrays('database'): {db.shape} {db.dtype} in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
