"""Hyperparameter trials for the fashion-mnist preset: mAP@all of 32-bit HashNet codes.

Each trial is ``BASE`` (the fashion-mnist preset before these trials: 16-32-64 CNN, batch 64,
2,000 steps, gamma 0.02, lr halved every 1,000) with some TrainConfig fields overridden, plus
``augment``: the padding in pixels of the training crops (+ horizontal flip); absent or 0
means no augmentation (the loader's default, padding 2, is replaced). The preset chosen from
them is the trial ``{"batch_size": 128, "width": 32, "augment": 2, "gamma": 0.05,
"lr_step": 700, "iters": 3000}``. Each row records the full config it ran. Trials run in
parallel worker processes (each loads the data once) and every result is appended to a
JSON-lines file as soon as it is known, so an interrupted sweep keeps what it measured.

    python tuning/tune_fashion.py --grid core --jobs 1 --out runs/tune.jsonl
    python tuning/tune_fashion.py --trial '{"width": 32, "augment": 2}' --seeds 0 1

With ``--from-preset``, a trial overrides the preset the data select today (``preset_for``:
``fashion-mnist`` for fashion-mnist, ``images`` for npz: images) instead of ``BASE``, and
``augment`` is TrainConfig's own (true, false, "crop", "crop-flip"); this is how the 2026-11-30
trials for the images preset and the faster fashion-mnist preset were run:

    python tuning/tune_fashion.py --from-preset --data npz:/tmp/fashion_npz.npz \
        --trial '{"augment": "crop"}' --seeds 0 1 --jobs 2 --threads 1 --out tuning/tune_presets_cpu.jsonl

The preset in hashnet_lite/presets.py was chosen from these trials (see its comment); the
recorded sweeps are tuning/tune_fashion_h200.jsonl, tuning/tune_fashion_cpu.jsonl and
tuning/tune_presets_cpu.jsonl.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import json
import multiprocessing
import os
import time
from pathlib import Path

GRIDS = {
    "core": [
        {},
        {"augment": 2},
        {"width": 32},
        {"width": 32, "augment": 2},
        {"gamma": 0.05},
        {"gamma": 0.1},
        {"gamma": 0.05, "width": 32, "augment": 2},
        {"iters": 4000, "lr_step": 2000},
        {"iters": 4000, "lr_step": 2000, "gamma": 0.05, "width": 32, "augment": 2},
        {"batch_size": 128},
        {"batch_size": 128, "width": 32, "augment": 2, "gamma": 0.05},
        {"lr": 0.05},
        {"dropout": 0.0},
        {"alpha": 0.5},
        {"hidden": 1024, "width": 32},
        {"weighting": "class_num", "class_num": 5.0},
    ],
    # Around the best of "core" (batch 128, width 32, pad-2 crop + flip, gamma 0.05).
    "round2": [
        {"batch_size": 128, "width": 32, "augment": 2, "gamma": 0.05},
        {"batch_size": 128, "width": 32, "augment": 2, "gamma": 0.05, "hidden": 1024},
        {"batch_size": 128, "width": 32, "gamma": 0.05},
        {"batch_size": 128, "width": 32, "augment": 2},
        {"batch_size": 128, "width": 32, "augment": 2, "gamma": 0.05, "lr": 0.05},
        {"batch_size": 256, "width": 32, "augment": 2, "gamma": 0.05},
        {"batch_size": 128, "width": 32, "augment": 2, "gamma": 0.05, "iters": 3000, "lr_step": 1500},
        {"batch_size": 128, "augment": 2, "gamma": 0.05},
    ],
}

# The fashion-mnist preset the recorded trials started from (overrides of the current preset).
BASE = dict(width=16, iters=2000, batch_size=64, lr=0.03, lr_step=1000, gamma=0.02, step_size=50)

_DATA = None


def _init(threads: int, spec: str) -> None:
    global _DATA
    import torch

    torch.set_num_threads(threads)
    from hashnet_lite.data import load_data

    _DATA = load_data(spec)


def run_trial(trial: dict, seed: int, bits: int, device: str, from_preset: bool = False) -> dict:
    import torch

    from hashnet_lite import retrieval
    from hashnet_lite.data.images import random_crop_flip
    from hashnet_lite.presets import preset_config, preset_for
    from hashnet_lite.train import encode, fit

    data = _DATA
    if from_preset:
        config, _ = preset_for(data, bits=bits, seed=seed, device=device, **trial)
        padding = None
    else:
        fields = {**BASE, **trial}
        padding = fields.pop("augment", 0)
        config, _ = preset_config("fashion-mnist", bits=bits, seed=seed, device=device, augment=padding > 0, **fields)
        data.train.augment = functools.partial(random_crop_flip, padding=padding)
    t0 = time.perf_counter()
    model, history = fit(data, config, progress=False)
    seconds = time.perf_counter() - t0
    q = encode(model, data.query, device=device)
    db = encode(model, data.database, device=device)
    qc = encode(model, data.query, device=device, continuous=True, beta=history[-1]["beta"])
    dbc = encode(model, data.database, device=device, continuous=True, beta=history[-1]["beta"])
    return {"trial": trial, "seed": seed, "bits": bits,
            "map": retrieval.mean_average_precision(q, db, data.y_query, data.y_database),
            "map_continuous": retrieval.mean_average_precision_real(qc, dbc, data.y_query, data.y_database),
            "final_beta": history[-1]["beta"], "final_loss": history[-1]["loss"],
            "seconds_train": round(seconds, 1), "device": device, "data": data.spec,
            "threads": torch.get_num_threads(),
            "config": {**config.to_dict(), **({} if padding is None else {"augment_padding": padding})}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", choices=sorted(GRIDS))
    p.add_argument("--trial", action="append", default=[], help="a JSON dict of overrides (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--bits", type=int, default=32)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch threads per worker")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist[:ROOT]")
    p.add_argument("--out", default="runs/tune_fashion.jsonl")
    p.add_argument("--from-preset", action="store_true",
                   help="trials override the data's preset of today (augment: TrainConfig's values), not BASE")
    args = p.parse_args()
    trials = (GRIDS[args.grid] if args.grid else []) + [json.loads(t) for t in args.trial]
    if not trials:
        p.error("give --grid or --trial")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    jobs = [(t, s) for s in args.seeds for t in trials]
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_init, initargs=(args.threads, args.data)) as pool:
        futures = {pool.submit(run_trial, t, s, args.bits, args.device, args.from_preset): (t, s) for t, s in jobs}
        for f in cf.as_completed(futures):
            try:
                row = f.result()
            except Exception as e:  # keep the sweep going; record what failed
                row = {"trial": futures[f][0], "seed": futures[f][1], "error": repr(e)}
            print(json.dumps(row), flush=True)
            with out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
