"""Training throughput (images per second) of HashNet's step, and the wall time of a preset run.

One step = forward through backbone + hash layer, the weighted pairwise likelihood over
the batch, backward, SGD update: ``hashnet_lite.train.train`` itself, on uint8 images held
in memory (torchvision's FakeData), so the data reach the step the way Fashion-MNIST,
CIFAR-10 and npz: data do (on a GPU: held there, ``batches.DeviceData``).

Rows: every backbone x batch size x precision (fp32, fp16 + GradScaler, bf16), and with
``--compile`` the same rows again under torch.compile for the precisions in
``--compile-precisions``; one row through the host DataLoader path (pinned memory) for
comparison. Each row times ``--steps`` steps after ``--warmup`` (the clock is read at two
logged steps, where the loop syncs anyway, so no step is synced for the benchmark);
compile rows also give the compile time (the warm-up's excess over the eager warm-up).

    python benchmarks/train_throughput.py                         # on a GPU: everything
    python benchmarks/train_throughput.py --quick                 # on a CPU: small, seconds
    python benchmarks/train_throughput.py --preset-run            # + the 32-bit fashion-mnist run
    python benchmarks/train_throughput.py --jpeg 512              # + JPEG decoding: GPU vs workers

Prints one row per setting with images/s and the ratio to the fp32 row of the same
backbone and batch; ``--json FILE`` also writes the rows as JSON lines.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import numpy as np
import torch

from hashnet_lite.config import COMPILE_MODES, TrainConfig
from hashnet_lite.data.container import ArrayDataset
from hashnet_lite.model import build_model
from hashnet_lite.train import resolve_device, train

# The Fashion-MNIST preset's network (presets.PRESETS['fashion-mnist']) on its 1x28x28 inputs.
SHAPES = {"alexnet": (3, 224, 224), "resnet50": (3, 224, 224), "vgg16": (3, 224, 224), "resnet18": (3, 224, 224),
          "cnn": (1, 28, 28)}
PRECISIONS = ("fp32", "fp16", "bf16")
JSON_OUT: list = []  # [path, device name] once --json is given: every row is appended as it is measured


def record(row: dict) -> dict:
    if JSON_OUT:
        with open(JSON_OUT[0], "a") as f:
            f.write(json.dumps({**row, "device": JSON_OUT[1], "torch": torch.__version__,
                                "cudnn_benchmark": torch.backends.cudnn.benchmark}) + "\n")
    return row


def fake_images(n: int, shape: tuple, num_classes: int = 100, seed: int = 0) -> ArrayDataset:
    """``n`` uint8 images of ``shape`` from torchvision's FakeData, with one-hot labels."""
    import torchvision

    fake = torchvision.datasets.FakeData(size=n, image_size=shape, num_classes=num_classes,
                                         transform=torchvision.transforms.PILToTensor(), random_offset=seed)
    xs, ys = zip(*(fake[i] for i in range(n)))
    x = torch.stack(xs).reshape(n, *shape)
    return ArrayDataset(x, np.eye(num_classes, dtype=np.uint8)[list(ys)])


def measure(backbone: str, data, config: TrainConfig, *, warmup: int, steps: int, on_device=None) -> dict:
    """images/s over ``steps`` steps after ``warmup``, and the warm-up's seconds."""
    config = dataclasses.replace(config, backbone=backbone, iters=warmup + steps, log_every=warmup)
    model = build_model(config, tuple(data.x.shape[1:]))
    history = train(model, data, config, progress=False, on_device=on_device)
    at = {rec["step"]: rec["seconds"] for rec in history}
    return {"images_per_s": steps * config.batch_size / (at[warmup + steps] - at[warmup]),
            "warmup_s": at[warmup]}


def throughput_rows(args, device) -> list[dict]:
    rows = []
    for backbone in args.backbones:
        for batch in args.batch_sizes:
            data = fake_images(2 * batch, SHAPES[backbone] if args.size is None or backbone == "cnn"
                               else (3, args.size, args.size))
            base = TrainConfig(bits=64, batch_size=batch, device=str(device), width=32 if backbone == "cnn" else 16,
                               checkpoint_every=10**9, augment=False)
            precisions = PRECISIONS if device.type == "cuda" else ("fp32",)
            eager = {}
            for precision in precisions:
                cfg = dataclasses.replace(base, precision=precision)
                r = measure(backbone, data, cfg, warmup=args.warmup, steps=args.steps)
                eager[precision] = r
                rows.append(_row(backbone, batch, precision, False, r, eager["fp32"]))
            if args.host_row:  # the same step fed through the DataLoader path
                cfg = dataclasses.replace(base, precision="bf16" if device.type == "cuda" else "fp32")
                r = measure(backbone, data, cfg, warmup=args.warmup, steps=args.steps, on_device=False)
                rows.append(_row(backbone, batch, cfg.precision, False, r, eager["fp32"],
                                 path="host DataLoader"))
            if args.compile and batch == max(args.batch_sizes):
                for precision in [p for p in precisions if p in args.compile_precisions]:
                    cfg = dataclasses.replace(base, compile=True if args.compile_mode == "default" else args.compile_mode,
                                              precision=precision)
                    r = measure(backbone, data, cfg, warmup=args.warmup, steps=args.steps)
                    r["compile_s"] = r["warmup_s"] - eager[precision]["warmup_s"]
                    rows.append(_row(backbone, batch, precision, cfg.compile, r, eager["fp32"]))
    return rows


def _row(backbone, batch, precision, compiled, r, fp32, path="on device") -> dict:
    row = {"backbone": backbone, "batch": batch, "precision": precision, "compile": compiled, "path": path,
           "images_per_s": round(r["images_per_s"], 1), "x_fp32": round(r["images_per_s"] / fp32["images_per_s"], 2),
           "compile_s": round(r.get("compile_s", 0.0), 1) if compiled else None}
    shown = "no" if not compiled else "yes" if compiled is True else compiled[:7]  # a mode: its name, cut
    print(f"{backbone:<9} {batch:>5} {precision:<5} {shown:<7} {path:<16} "
          f"{row['images_per_s']:>10.1f} {row['x_fp32']:>7.2f} "
          f"{'' if row['compile_s'] is None else row['compile_s']:>9}", flush=True)
    return record(row)


def preset_run(device, bits: int = 32, precision: str = "bf16", compile=False) -> dict:
    """The whole fashion-mnist preset run at ``bits``: train, encode, mAP, with wall times
    (``compile``: TrainConfig.compile, e.g. "reduce-overhead" for CUDA graphs)."""
    from hashnet_lite import load_data, mean_average_precision, preset_for
    from hashnet_lite.train import encode, fit

    data = load_data("fashion-mnist")
    config, topk = preset_for(data, bits=bits, device=str(device), precision=precision, compile=compile)
    t0 = time.perf_counter()
    model, _ = fit(data, config, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_s = time.perf_counter() - t0
    q = encode(model, data.query, device=device)
    db = encode(model, data.database, device=device)
    encode_s = time.perf_counter() - t0 - train_s
    m = mean_average_precision(q, db, data.y_query, data.y_database, topk=topk)
    row = {"run": f"fashion-mnist preset, {bits} bits", "precision": precision if device.type == "cuda" else "fp32",
           "compile": compile,
           "train_s": round(train_s, 1), "encode_s": round(encode_s, 1),
           "total_s": round(time.perf_counter() - t0, 1), "map": round(float(m), 4), "steps": config.iters}
    print(json.dumps(row), flush=True)
    return record(row)


def jpeg_rows(n: int, device, workers: int) -> list[dict]:
    """Decode + resize 256 + crop 224 of ``n`` JPEGs: torchvision.io.decode_jpeg on the GPU
    against PIL in DataLoader workers (the list: loader's path)."""
    import tempfile
    from pathlib import Path

    import torchvision
    import torchvision.transforms.v2.functional as TF  # v2 is a submodule: not loaded by `import torchvision`
    from PIL import Image

    from hashnet_lite.data.images import ImageListDataset

    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(n):  # smooth images of photo-like size compress like photos
            small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            img = Image.fromarray(small).resize((500, 375), Image.BILINEAR)
            paths.append(Path(tmp) / f"{i}.jpg")
            img.save(paths[-1], quality=90)
        dataset = ImageListDataset(paths, np.eye(10, dtype=np.uint8)[rng.integers(0, 10, n)], train=False)
        loader = torch.utils.data.DataLoader(dataset, batch_size=64, num_workers=workers, pin_memory=device.type == "cuda")
        t = time.perf_counter()
        for x, _ in loader:
            x = x.to(device, non_blocking=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rows.append({"jpeg": f"PIL in {workers} DataLoader workers", "images_per_s": round(n / (time.perf_counter() - t), 1)})
        if device.type == "cuda":
            datas = [torchvision.io.read_file(str(p)) for p in paths]
            torchvision.io.decode_jpeg(datas[:8], device=device)  # warm-up (nvjpeg handles)
            t = time.perf_counter()
            for i in range(0, n, 64):
                imgs = torchvision.io.decode_jpeg(datas[i:i + 64], device=device)
                batch = torch.stack([TF.center_crop(TF.resize(im, 256, antialias=True), 224) for im in imgs])
                batch = batch.float().div_(255)
            torch.cuda.synchronize()
            rows.append({"jpeg": "torchvision.io.decode_jpeg on the GPU", "images_per_s": round(n / (time.perf_counter() - t), 1)})
    for r in rows:
        print(json.dumps(r), flush=True)
        record(r)
    return rows


def profile_rows(backbone: str, batch: int, precision: str, device, steps: int = 10) -> dict:
    """Where a step's time goes: torch.profiler over ``steps`` steps after a warm-up. The
    share of the wall time the GPU spends in kernels says whether the step is bound by the
    GPU (near 1) or by the host launching work (well below 1)."""
    from torch.profiler import ProfilerActivity, profile

    data = fake_images(2 * batch, SHAPES[backbone])
    config = TrainConfig(bits=64, backbone=backbone, batch_size=batch, device=str(device), width=16,
                         checkpoint_every=10**9,
                         augment=False, iters=steps, log_every=steps, precision=precision)
    model = build_model(config, tuple(data.x.shape[1:]))
    train(model, data, dataclasses.replace(config, iters=5, log_every=5), progress=False)  # cuDNN + allocator warm-up
    cuda = device.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU] + [ProfilerActivity.CUDA] * cuda) as prof:
        t = time.perf_counter()
        train(model, data, config, progress=False)
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - t
    events = prof.key_averages()
    print(events.table(sort_by="self_device_time_total", row_limit=15), flush=True)
    # Kernels only (the table's "Self CUDA time total"): an operator's own row repeats its kernels' time.
    kernel_s = sum(e.self_device_time_total for e in events
                   if e.device_type == torch.autograd.DeviceType.CUDA and not e.is_user_annotation) / 1e6
    row = {"profile": f"{backbone} batch {batch} {precision}", "wall_s": round(wall, 3),
           "gpu_kernel_s": round(kernel_s, 3), "gpu_busy": round(kernel_s / wall, 2)}
    print(json.dumps(row), flush=True)
    return record(row)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbones", nargs="+", default=["alexnet", "resnet50", "cnn"], choices=sorted(SHAPES))
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--size", type=int, default=None, help="side of the 3-channel images (default: 224)")
    p.add_argument("--steps", type=int, default=30, help="timed steps (after --warmup)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true", help="also time torch.compile at the largest batch")
    p.add_argument("--compile-precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    p.add_argument("--compile-mode", default="default", choices=COMPILE_MODES,
                   help="torch.compile's mode for the compile rows (reduce-overhead: CUDA graphs)")
    p.add_argument("--no-host-row", dest="host_row", action="store_false",
                   help="skip the row through the host DataLoader path")
    p.add_argument("--preset-run", action="store_true", help="also time the 32-bit fashion-mnist preset run")
    p.add_argument("--jpeg", type=int, default=0, metavar="N", help="also time decoding N JPEGs (0: skip)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader workers for --jpeg")
    p.add_argument("--skip-matrix", action="store_true", help="only the --preset-run and --jpeg parts")
    p.add_argument("--quick", action="store_true", help="CPU-sized: batch 8 and 64, 64x64, 3 timed steps")
    p.add_argument("--preset-precisions", nargs="+", default=["bf16"], choices=PRECISIONS,
                   help="precisions of the --preset-run (each a whole run)")
    p.add_argument("--preset-compile", default=False, choices=(False, *COMPILE_MODES),
                   help="torch.compile mode of the --preset-run (reduce-overhead: CUDA graphs; default: eager)")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="let cuDNN time its algorithms per shape (torch.backends.cudnn.benchmark)")
    p.add_argument("--profile", nargs="+", default=[], metavar="BACKBONE",
                   help="also profile 10 steps of each BACKBONE at the largest batch, in each --compile-precisions")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the rows as JSON lines")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.size, args.steps, args.warmup = [8, 64], 64, 3, 2
    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# {name}; torch {torch.__version__}; {args.steps} timed steps after {args.warmup}; "
          f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32}, cuDNN TF32 {torch.backends.cudnn.allow_tf32}, "
          f"cuDNN benchmark {torch.backends.cudnn.benchmark}")
    print(f"{'backbone':<9} {'batch':>5} {'prec':<5} {'compile':<7} {'data':<16} {'images/s':>10} {'x fp32':>7} "
          f"{'compile s':>9}")
    if args.json:
        JSON_OUT[:] = [args.json, name]
    if not args.skip_matrix:
        throughput_rows(args, device)
    if args.preset_run:
        for precision in args.preset_precisions:
            preset_run(device, precision=precision, compile=args.preset_compile)
    for backbone in args.profile:
        for precision in args.compile_precisions:
            profile_rows(backbone, max(args.batch_sizes), precision, device)
    if args.jpeg:
        jpeg_rows(args.jpeg, device, args.workers)


if __name__ == "__main__":
    main()
