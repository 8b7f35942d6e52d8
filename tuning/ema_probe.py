"""Would an exponential moving average (EMA) of the weights lift the fashion-mnist preset?

Trains the preset once (with any TrainConfig overrides as JSON) and, through the loop's
step callback, keeps EMA copies of the model (weights and BatchNorm buffers;
torch.optim.swa_utils.AveragedModel) at several decays; then scores the trained model and
each average, binary codes (mAP over the database) and continuous outputs (HashNet-nobin's
ranking). A probe, not a feature: the callback reads the loss at every step, so this runs
a little slower than the CLI. Rows are appended to --out.

    python tuning/ema_probe.py --seed 0 --threads 1 --out tuning/ema_probe_cpu.jsonl
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from hashnet_lite import retrieval
from hashnet_lite.data import load_data
from hashnet_lite.model import build_model
from hashnet_lite.presets import preset_for
from hashnet_lite.train import encode, train


def scores(model, data, beta: float) -> tuple[float, float]:
    model = model.to(memory_format=torch.contiguous_format).eval()
    q, db = encode(model, data.query, device="cpu"), encode(model, data.database, device="cpu")
    qc = encode(model, data.query, device="cpu", continuous=True, beta=beta)
    dbc = encode(model, data.database, device="cpu", continuous=True, beta=beta)
    return (round(retrieval.mean_average_precision(q, db, data.y_query, data.y_database), 4),
            round(retrieval.mean_average_precision_real(qc, dbc, data.y_query, data.y_database), 4))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--decays", type=float, nargs="+", default=[0.998, 0.999, 0.9995])
    p.add_argument("--overrides", default="{}", help="TrainConfig fields over the preset, as JSON")
    p.add_argument("--out", default="runs/ema_probe.jsonl")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    overrides = json.loads(args.overrides)
    data = load_data("fashion-mnist")
    config, _ = preset_for(data, bits=32, seed=args.seed, device="cpu", **overrides)
    model = build_model(config, data.input_shape)
    averages = {}

    def average(step, logs):  # after every optimizer step
        if not averages:  # made here: the loop has moved the model to its device and layout
            averages.update({d: AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(d), use_buffers=True)
                             for d in args.decays})
        for ema in averages.values():
            ema.update_parameters(model)

    t0 = time.perf_counter()
    history = train(model, data.train, config, progress=False, callback=average)
    beta = history[-1]["beta"]
    row = {"seed": args.seed, "overrides": overrides, "seconds_train": round(time.perf_counter() - t0, 1),
           "threads": args.threads, "trained": scores(model, data, beta),
           **{f"ema_{d}": scores(ema.module, data, beta) for d, ema in averages.items()},
           "config": config.to_dict()}
    print(json.dumps(row), flush=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
