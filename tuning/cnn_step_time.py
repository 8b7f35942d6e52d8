"""Step time of the small CNN by its number of conv layers (``TrainConfig.convs``).

The bare network of the fashion-mnist preset (width 32, feature layer 1024, 32 bits, batch 128,
28x28 grey images, channels_last) timed for forward + backward + SGD on random inputs, so that
the cost of a deeper network is known before a trial is run (tuning/README.md, fourth round):

    python tuning/cnn_step_time.py --threads 2
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from hashnet_lite.model import build_model
from hashnet_lite.presets import preset_config


def step_ms(convs: int, steps: int, batch: int) -> float:
    config, _ = preset_config("fashion-mnist")
    net = build_model(dataclasses.replace(config, convs=convs), (1, 28, 28)).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 1, 28, 28).to(memory_format=torch.channels_last)

    def step():
        opt.zero_grad()
        net(x, 1.0).square().mean().backward()
        opt.step()

    for _ in range(10):  # warm-up: oneDNN picks its kernels on the first calls
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return 1000 * (time.perf_counter() - start) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    # two alternating rounds, the faster of each kept: the first model timed pays for the
    # process's own warm-up, which one round would charge to convs 3
    times = {c: [] for c in (3, 4, 5, 6)}
    for _ in range(2):
        for convs in times:
            times[convs].append(step_ms(convs, args.steps, args.batch))
    for convs, ms in times.items():
        print(f"convs {convs}: {min(ms):.1f} ms/step ({min(ms) / min(times[3]):.2f}x convs 3)"
              f"  [rounds: {', '.join(f'{t:.1f}' for t in ms)}]")


if __name__ == "__main__":
    main()
