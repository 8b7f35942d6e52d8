"""What one step of the fashion-mnist preset costs, piece by piece, and how low it can go.

The preset's small CNN leaves a GPU mostly idle: a step is a few hundred tiny kernels, and
the host launching them is the bound. This script times, on one device, in one run:

1. ``eager``: ``train()`` as a user runs it (the preset's config, its augmentation, fp32 or
   the --precision given), ms per step between two logged steps;
2. ``compiled``: the same with ``compile="reduce-overhead"`` (torch.compile's CUDA graphs
   over the backbone's forward and backward; the loss, the optimizer and the data stay eager);
3. ``data``: the batches alone (``batches.training_batches`` on the device, with the
   preset's crop, flip and random erasing), ms per batch;
4. ``graph``: the whole step (forward, the weighted pairwise likelihood, backward, the SGD
   update) captured once in a CUDA graph and replayed on a fixed batch: the floor of a step
   with no host work, and so of a run with the data fed from the device (CUDA only).

A preset run's time is about iters x the per-step time (5,000 steps). Rows are printed as
JSON lines (and appended to --json FILE).

    python benchmarks/step_floor.py                 # on a GPU
    python benchmarks/step_floor.py --steps 20      # on a CPU: rows 1-3, seconds
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from hashnet_lite.batches import training_batches
from hashnet_lite.config import PRECISIONS
from hashnet_lite.continuation import beta_at
from hashnet_lite.data.augment import for_training
from hashnet_lite.data.container import ArrayDataset
from hashnet_lite.methods import Objective
from hashnet_lite.model import build_model
from hashnet_lite.presets import preset_config
from hashnet_lite.placement import autocast_dtype
from hashnet_lite.train import make_optimizer, resolve_device
from train_throughput import measure  # beside this script

SHAPE = (1, 28, 28)


def preset_data(n: int = 4096, seed: int = 0) -> ArrayDataset:
    """``n`` random uint8 28x28 images in 10 classes, held like Fashion-MNIST's."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.integers(0, 256, (n, *SHAPE), dtype=np.uint8))
    return ArrayDataset(x, np.eye(10, dtype=np.uint8)[rng.integers(0, 10, n)])


def preset(device, precision: str, **changes):
    config, _ = preset_config("fashion-mnist", bits=32, device=str(device), precision=precision)
    # The data set's own augmentation of Fashion-MNIST (crop + flip), named, since random arrays have none.
    return dataclasses.replace(config, augment="crop-flip", checkpoint_every=10**9, **changes)


def ms_per_step(config, data, warmup: int, steps: int) -> tuple[float, float]:
    """(ms per step after ``warmup`` steps, the warm-up's seconds), through train()
    (train_throughput.measure, which reads the clock at two logged steps)."""
    r = measure(config.backbone, data, config, warmup=warmup, steps=steps)
    return 1000 * config.batch_size / r["images_per_s"], r["warmup_s"]


def data_ms(config, data, device, steps: int) -> float:
    """ms per batch of the device path with the preset's augmentation, nothing else."""
    dataset = for_training(data, config)
    batches = training_batches(dataset, 0, config, config.batch_size, device, step_seed=lambda s: s)
    it = iter(batches)
    for _ in range(5):
        next(it)
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        _, x, _ = next(it)
    _sync(device)
    return 1000 * (time.perf_counter() - t) / steps


def graph_ms(config, data, device, steps: int) -> float:
    """ms per replay of the whole step captured in one CUDA graph (fixed batch, beta, lr)."""
    model = build_model(config, SHAPE).to(device, memory_format=torch.channels_last).train()
    optimizer = make_optimizer(model, config)
    objective = Objective(config, train_size=len(data))
    x = data.x[:config.batch_size].to(device).float().div_(255).contiguous(memory_format=torch.channels_last)
    y = torch.as_tensor(np.asarray(data.y[:config.batch_size]), dtype=torch.float32, device=device)
    beta = beta_at(0, config)
    low = autocast_dtype(config, device)

    def step():
        with torch.autocast("cuda", dtype=low or torch.bfloat16, enabled=low is not None):
            out = objective.outputs(model, x, beta)
        loss, _ = objective.loss(out.float(), y)
        loss.backward()
        optimizer.step()
        return loss

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the capture stream: momentum buffers, cuDNN plans
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss = step()
    for _ in range(10):
        graph.replay()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        graph.replay()
    _sync(device)
    assert torch.isfinite(loss).item(), "the captured step's loss is not finite"
    return 1000 * (time.perf_counter() - t) / steps


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS)
    p.add_argument("--steps", type=int, default=500, help="timed steps of each row")
    p.add_argument("--warmup", type=int, default=100, help="steps before the clock starts (compiling: more)")
    p.add_argument("--json", default=None, metavar="FILE")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    data = preset_data()
    config = preset(device, args.precision)
    rows = []

    def emit(row):
        row = {**row, "device": name, "torch": torch.__version__, "precision": args.precision}
        print(json.dumps(row), flush=True)
        rows.append(row)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")

    ms, warm = ms_per_step(config, data, args.warmup, args.steps)
    emit({"row": "eager", "ms_per_step": round(ms, 3), "run_5000_s": round(5 * ms, 1)})
    emit({"row": "data", "ms_per_step": round(data_ms(config, data, device, args.steps), 3)})
    if device.type == "cuda":
        for mode in ("reduce-overhead",):
            try:
                ms, warm = ms_per_step(dataclasses.replace(config, compile=mode), data, args.warmup, args.steps)
                emit({"row": f"compiled {mode}", "ms_per_step": round(ms, 3), "run_5000_s": round(5 * ms, 1),
                      "warmup_s": round(warm, 1)})
            except Exception as e:  # a row that fails says why; the others still run
                emit({"row": f"compiled {mode}", "error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"})
        try:
            ms = graph_ms(config, data, device, args.steps)
            emit({"row": "graph", "ms_per_step": round(ms, 3), "run_5000_s": round(5 * ms, 1)})
        except Exception as e:
            emit({"row": "graph", "error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"})
    else:
        emit({"row": "graph", "skipped": "CUDA graphs need a CUDA device"})


if __name__ == "__main__":
    main()
