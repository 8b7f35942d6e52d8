"""The CPU step of the two image presets, contiguous against channels_last, with 1 and 2 threads.

The bare network of each preset (fashion-mnist: width 32, convs 4, feature layer 1024; images:
width 32, convs 3, feature layer 512; 32 bits, batch 128, 28x28 grey images) timed for forward +
backward + SGD on random inputs after a warm-up. The two layouts take turns, one round of
--steps steps each, --rounds rounds, so that other work on a shared machine slows both alike;
each is reported by the median over its rounds of the wall-clock time per step and of the
process's CPU time per step (all threads; with 2 threads it counts their waiting too):

    python benchmarks/layout_step_time.py
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from hashnet_lite.model import build_model
from hashnet_lite.presets import preset_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402


def make_step(preset: str, channels_last: bool):
    config, _ = preset_config(preset)
    net = build_model(dataclasses.replace(config, bits=32), (1, 28, 28))
    x = torch.randn(config.batch_size, 1, 28, 28)
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        net(x, 1.0).square().mean().backward()
        opt.step()

    for _ in range(10):  # oneDNN picks its kernels on the first calls
        step()
    return step


def compare(preset: str, steps: int, rounds: int) -> dict:
    """Median ms per step, wall-clock and CPU, of each layout, the layouts taking turns."""
    steps_of = {layout: make_step(preset, layout == "channels_last") for layout in ("contiguous", "channels_last")}
    wall = {layout: [] for layout in steps_of}
    cpu = {layout: [] for layout in steps_of}
    for _ in range(rounds):
        for layout, step in steps_of.items():
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(steps):
                step()
            wall[layout].append(1000 * (time.perf_counter() - t0) / steps)
            cpu[layout].append(1000 * (time.process_time() - c0) / steps)
    return {layout: (statistics.median(wall[layout]), statistics.median(cpu[layout])) for layout in steps_of}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}; ms per step, median of "
          f"{args.rounds} rounds x {args.steps} steps, the layouts in turn; load average {os.getloadavg()[0]:.1f}")
    print(f"{'preset':<14} {'threads':>7} {'contiguous':>11} {'channels_last':>14} {'ratio':>6}"
          f" {'cpu contiguous':>15} {'cpu channels_last':>18} {'ratio':>6}")
    for preset in ("fashion-mnist", "images"):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got = compare(preset, args.steps, args.rounds)
            (plain, plain_cpu), (last, last_cpu) = got["contiguous"], got["channels_last"]
            print(f"{preset:<14} {threads:>7} {plain:>11.1f} {last:>14.1f} {plain / last:>5.2f}x"
                  f" {plain_cpu:>15.1f} {last_cpu:>18.1f} {plain_cpu / last_cpu:>5.2f}x", flush=True)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")

if __name__ == "__main__":
    main()
