"""The CPU step of the two image presets, contiguous against channels_last, with 1 and 2 threads.

The bare network of each preset (fashion-mnist: width 32, convs 4, feature layer 1024; images:
width 32, convs 3, feature layer 512; 32 bits, batch 128, 28x28 grey images) timed for forward +
backward + SGD on random inputs, the median of --rounds rounds of --steps steps after a warm-up:

    python benchmarks/layout_step_time.py
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time

import torch

from hashnet_lite.model import build_model
from hashnet_lite.presets import preset_config


def step_ms(preset: str, channels_last: bool, steps: int, rounds: int) -> float:
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
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append(1000 * (time.perf_counter() - start) / steps)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}; ms per step, "
          f"median of {args.rounds} x {args.steps} steps")
    print(f"{'preset':<14} {'threads':>7} {'contiguous':>11} {'channels_last':>14} {'ratio':>6}")
    for preset in ("fashion-mnist", "images"):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            plain = step_ms(preset, False, args.steps, args.rounds)
            last = step_ms(preset, True, args.steps, args.rounds)
            print(f"{preset:<14} {threads:>7} {plain:>11.1f} {last:>14.1f} {plain / last:>5.2f}x")


if __name__ == "__main__":
    main()
