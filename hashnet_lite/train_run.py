"""The ``train`` command: one method at one code length, trained, encoded and scored into
one folder (metrics.json, codes.npz, history.json, model.pt). Every file is written
atomically; ``reproduce`` (``experiments``) is the same work over a grid of methods and
code lengths.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .config import TrainConfig
from .conventions import CONVENTION, TIES, evaluate
from .data.container import data_fingerprint
from .distributed import is_main_process
from .io import save_npz_atomic, write_json_atomic
from .train import encode, fit


def train_and_evaluate(data, config: TrainConfig, out: str | Path, *, topk: int | None,
                       progress: bool = True, resume: bool = False, method: str | None = None) -> dict:
    """The ``train`` command: fit ``config``'s method, encode, evaluate; writes metrics.json,
    codes.npz, history.json and model.pt under ``out`` and returns the metrics.

    ``method`` is the registry's name of the run (``methods.REGISTRY``: "HashNet-W" trains
    HashNet's loss without weights); None: the loss ``config.method``. metrics.json and
    history.json record it."""
    out = Path(out)
    t0 = time.perf_counter()
    model, history = fit(data, config, progress=progress, checkpoint=out / "model.pt", resume=resume)
    seconds_train = time.perf_counter() - t0
    if not is_main_process():
        return {}
    query_codes = encode(model, data.query, device=config.device)
    database_codes = encode(model, data.database, device=config.device)
    fingerprint = data_fingerprint(data)
    metrics = {
        "method": method or config.method,
        **evaluate(query_codes, database_codes, data, topk),
        "topk": topk, "convention": CONVENTION, "ties": TIES, "bits": config.bits, "data": data.spec,
        "backbone": config.backbone, "iters": config.iters, "seed": config.seed,
        "split_seed": fingerprint["split_seed"], "data_fingerprint": fingerprint,
        "seconds": time.perf_counter() - t0, "seconds_train": seconds_train,
        "protocol": data.protocol, "final_loss": history[-1]["loss"] if history else None,
        "final_beta": history[-1]["beta"] if history else None,
    }
    label_ids = getattr(data, "label_ids", None)  # the user's class id of each label column
    extra = {} if label_ids is None else {"label_ids": np.asarray(label_ids)}
    save_npz_atomic(out / "codes.npz", query_codes=query_codes, database_codes=database_codes,
                    query_labels=data.y_query, database_labels=data.y_database, **extra)
    write_json_atomic({"method": metrics["method"], "metrics": metrics, "history": history}, out / "history.json")
    write_json_atomic(metrics, out / "metrics.json")
    return metrics
