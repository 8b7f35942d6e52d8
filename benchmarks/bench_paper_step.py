"""How long the paper-size training takes: the ``imagenet100`` preset's training loop (AlexNet,
batch 64, 224 x 224 images, AMP on CUDA) on random images held in memory.

What this measures: the package's real training loop (``train.fit``: batching from an in-memory
uint8 array, the forward/backward pass, the weighted pairwise loss, SGD) on this machine.
What it does not: reading and decoding the data set's JPEG files (the list-file loader), which
a real run adds and which may dominate. ``pretrained=False``: the speed does not depend on the
weights' values, and the pretrained file may not be downloadable here.

First a probe of ``--probe`` steps; then, if the probe's rate says ``--steps`` fit in
``--budget-s`` seconds, the whole run of ``--steps`` steps, timed end to end. Otherwise the
total is extrapolated from the probe, and the output says so.

    python benchmarks/bench_paper_step.py                      # 10,000 steps if they fit in 420 s
    python benchmarks/bench_paper_step.py --steps 5 --probe 3  # a CPU: a few steps
"""
from __future__ import annotations

import argparse
import platform
import time
from types import SimpleNamespace

import numpy as np
import torch

from hashnet_lite.data import ArrayDataset, one_hot
from hashnet_lite.presets import preset_config
from hashnet_lite.train import fit, resolve_device


def make_data(n: int, classes: int, seed: int = 0) -> SimpleNamespace:
    """What ``fit`` reads from a RetrievalData: n random 3x224x224 uint8 images, one label each."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 3, 224, 224), dtype=np.uint8)
    y = one_hot(np.arange(n) % classes, classes)
    return SimpleNamespace(train=ArrayDataset(x, y), input_shape=(3, 224, 224), spec="random-224",
                           num_classes=classes)


def timed_run(data, steps: int, device: str, num_workers: int = 0) -> float:
    config, _ = preset_config("imagenet100", iters=steps, pretrained=False, device=device,
                              num_workers=num_workers, checkpoint_every=10**9, log_every=max(1, steps // 10))
    if resolve_device(device).type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fit(data, config, progress=False)
    if resolve_device(device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--probe", type=int, default=300)
    p.add_argument("--budget-s", type=float, default=420.0)
    p.add_argument("--images", type=int, default=2048, help="random images held in memory")
    p.add_argument("--device", default="auto")
    p.add_argument("--num-workers", type=int, nargs="+", default=[0],
                   help="DataLoader workers; each value gets a probe, the fastest the full run")
    args = p.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'cpu'}"
    print(f"# {name}; torch {torch.__version__}; {torch.get_num_threads()} CPU threads; "
          f"preset imagenet100 (alexnet, batch 64, 224x224, amp on cuda), random uint8 images in memory")
    data = make_data(args.images, 100)
    rates = {}
    for workers in args.num_workers:
        probe = timed_run(data, args.probe, args.device, workers)
        rates[workers] = rate = probe / args.probe
        print(f"probe, {workers} workers: {args.probe} steps in {probe:.1f} s ({1000 * rate:.1f} ms/step, "
              f"warm-up included)")
    workers = min(rates, key=rates.get)
    rate = rates[workers]
    if rate * args.steps <= args.budget_s:
        total = timed_run(data, args.steps, args.device, workers)
        print(f"measured, {workers} workers: {args.steps} steps in {total:.1f} s "
              f"({1000 * total / args.steps:.1f} ms/step)")
    else:
        print(f"extrapolated (not run), {workers} workers: {args.steps} steps would take ~{rate * args.steps:.0f} s "
              f"= {rate * args.steps / 3600:.1f} h at the probe's rate")


if __name__ == "__main__":
    main()
