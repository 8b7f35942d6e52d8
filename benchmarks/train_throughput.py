"""Training-step throughput (images per second) of HashNet's step on 224x224 images.

One step = forward through backbone + hash layer, the weighted pairwise likelihood over
the batch, backward, SGD update: the same code as ``hashnet_lite.train.train`` (it calls
``train`` itself on torchvision's FakeData). Reported for alexnet and resnet50, with and
without mixed precision (AMP only exists on CUDA; on CPU that row says so).

    python benchmarks/train_throughput.py                 # on a GPU: batch 64, 224x224
    python benchmarks/train_throughput.py --quick         # on a CPU: small batch and size, seconds

Prints one row per (backbone, amp) with images/s and the ratio to the fp32 row.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch.utils.data import Dataset

from hashnet_lite.config import TrainConfig
from hashnet_lite.model import build_model
from hashnet_lite.train import resolve_device, train


class FakeImages(Dataset):
    """torchvision's FakeData as tensors with multi-hot labels, generated once in memory
    (so the benchmark times the training step, not PIL decoding)."""

    def __init__(self, n: int, size: int, num_classes: int = 100, seed: int = 0):
        import torchvision

        fake = torchvision.datasets.FakeData(size=n, image_size=(3, size, size), num_classes=num_classes,
                                             transform=torchvision.transforms.ToTensor(), random_offset=seed)
        xs, ys = zip(*(fake[i] for i in range(n)))
        self.x = torch.stack(xs)
        self.y = torch.nn.functional.one_hot(torch.tensor(ys), num_classes).float()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def images_per_second(backbone: str, data: Dataset, config: TrainConfig, warmup: int) -> float:
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(config, backbone=backbone), tuple(data.x.shape[1:]))
    timed: list[float] = []

    def clock(step, logs):  # called after every step; CUDA work is synchronised first
        if torch.cuda.is_available() and config.device != "cpu":
            torch.cuda.synchronize()
        timed.append(time.perf_counter())

    train(model, data, dataclasses.replace(config, backbone=backbone), progress=False, callback=clock)
    steps = len(timed) - warmup
    return steps * config.batch_size / (timed[-1] - timed[warmup - 1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbones", nargs="+", default=["alexnet", "resnet50"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=20, help="timed steps (after --warmup)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="CPU-sized: batch 8, 112x112, 3 timed steps")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.size, args.steps, args.warmup = 8, 112, 3, 1
    device = resolve_device(args.device)
    data = FakeImages(args.batch_size * 2, args.size)
    base = TrainConfig(bits=64, iters=args.warmup + args.steps, batch_size=args.batch_size, device=str(device),
                       log_every=10_000, checkpoint_every=10_000)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# {name}; torch {torch.__version__}; batch {args.batch_size}, {args.size}x{args.size}, "
          f"{args.steps} timed steps after {args.warmup} warm-up; training step of hashnet_lite.train")
    print(f"{'backbone':<10} {'precision':<10} {'images/s':>10} {'x fp32':>7}")
    for backbone in args.backbones:
        fp32 = images_per_second(backbone, data, dataclasses.replace(base, amp=False), args.warmup)
        print(f"{backbone:<10} {'fp32':<10} {fp32:>10.1f} {1.0:>7.2f}", flush=True)
        if device.type == "cuda":
            amp = images_per_second(backbone, data, dataclasses.replace(base, amp=True), args.warmup)
            print(f"{backbone:<10} {'amp fp16':<10} {amp:>10.1f} {amp / fp32:>7.2f}", flush=True)
        else:
            print(f"{backbone:<10} {'amp fp16':<10} {'n/a':>10} {'':>7}  (mixed precision is used on CUDA only)")


if __name__ == "__main__":
    main()
