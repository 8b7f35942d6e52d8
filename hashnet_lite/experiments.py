"""HashNet, its ablations and the shallow baselines on one split, with results on disk.

The methods (named as in the paper's ablation study, Sec. 4.3):
- ``HashNet``: the full method: continuation + imbalance weights, binary codes;
- ``HashNet-W``: without the weights (w_ij = 1);
- ``HashNet-sgn``: without continuation (constant beta = beta0, sign at test time);
- ``HashNet+C``: HashNet's continuous outputs tanh(beta z) ranked by inner product (the
  upper reference: what binarization costs);
- ``ITQ``, ``LSH``: fitted on the training items' flattened inputs.

``train_and_evaluate`` is the ``train`` command; ``reproduce`` the ``reproduce`` command.
Every file is written atomically; a reproduction run keeps finished rows and skips them.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from . import retrieval
from .baselines import ITQ, LSH
from .config import TrainConfig
from .distributed import is_main_process
from .io import save_npz_atomic, write_json_atomic, write_text_atomic
from .presets import PROTOCOLS
from .train import encode, fit

METHODS = ("HashNet", "HashNet-W", "HashNet-sgn", "HashNet+C", "ITQ", "LSH")
CONVENTION = "zero"  # queries with no relevant item in their top list count as AP 0
TIES = "index"  # ties in Hamming distance broken by database index


def method_config(method: str, config: TrainConfig) -> TrainConfig:
    """The training config of a deep method (the ablations are one field each)."""
    if method in ("HashNet", "HashNet+C"):
        return config
    if method == "HashNet-W":
        return dataclasses.replace(config, weighting="none")
    if method == "HashNet-sgn":
        return dataclasses.replace(config, schedule="constant")
    raise ValueError(f"method={method!r} is not a deep method: expected HashNet, HashNet-W, HashNet-sgn or HashNet+C")


def evaluate(query_codes, database_codes, data, topk: int | None, *, continuous: bool = False) -> dict:
    """mAP (and, for binary codes, precision within Hamming radius 2) under our convention."""
    args = (query_codes, database_codes, data.y_query, data.y_database)
    if continuous:
        m = retrieval.mean_average_precision_real(*args, topk=topk, empty=CONVENTION, metric="inner")
        return {"map": float(m)}
    m = retrieval.mean_average_precision(*args, topk=topk, empty=CONVENTION, ties=TIES)
    p2 = retrieval.precision_within_radius(*args, r=2)
    return {"map": float(m), "precision_radius2": float(p2)}


def train_and_evaluate(data, config: TrainConfig, out: str | Path, *, topk: int | None,
                       progress: bool = True, resume: bool = False) -> dict:
    """The ``train`` command: fit HashNet, encode, evaluate; writes metrics.json,
    codes.npz and model.pt under ``out`` and returns the metrics."""
    out = Path(out)
    t0 = time.perf_counter()
    model, history = fit(data, config, progress=progress, checkpoint=out / "model.pt", resume=resume)
    seconds_train = time.perf_counter() - t0
    if not is_main_process():
        return {}
    query_codes = encode(model, data.query, device=config.device)
    database_codes = encode(model, data.database, device=config.device)
    metrics = {
        **evaluate(query_codes, database_codes, data, topk),
        "topk": topk, "convention": CONVENTION, "ties": TIES, "bits": config.bits, "data": data.spec,
        "backbone": config.backbone, "iters": config.iters, "seed": config.seed,
        "seconds": time.perf_counter() - t0, "seconds_train": seconds_train,
        "protocol": data.protocol, "final_loss": history[-1]["loss"] if history else None,
        "final_beta": history[-1]["beta"] if history else None,
    }
    save_npz_atomic(out / "codes.npz", query_codes=query_codes, database_codes=database_codes,
                    query_labels=data.y_query, database_labels=data.y_database)
    write_json_atomic({"metrics": metrics, "history": history}, out / "history.json")
    write_json_atomic(metrics, out / "metrics.json")
    return metrics


def baseline_codes(method: str, data, bits: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(query codes, database codes) of ITQ or LSH fitted on the training inputs."""
    cls = {"ITQ": ITQ, "LSH": LSH}[method]
    model = cls(bits, seed=seed).fit(data.arrays("train"))
    return model.encode(data.arrays("query")), model.encode(data.arrays("database"))


def check_methods(methods) -> tuple[str, ...]:
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods={list(methods)!r}: unknown {unknown}; expected names from {METHODS}")
    return tuple(methods)


def reproduce(data, bits_list, out: str | Path, config: TrainConfig, *, topk: int | None,
              methods=METHODS, preset: str | None = None, pr_bits: int | None = None,
              progress: bool = True) -> list[dict]:
    """Every method at every code length on one split. Writes ``results.json`` (rows of
    method, bits, map, topk, ...) after each row, ``results.md``, ``pr_curves.json`` and
    the plots; rows already in ``results.json`` are kept and skipped. Under torchrun every
    rank trains; only rank 0 encodes, evaluates and writes."""
    methods = check_methods(methods)
    bits_list = [int(b) for b in bits_list]
    if not bits_list or any(b < 1 for b in bits_list):
        raise ValueError(f"bits={bits_list!r} is invalid: expected one or more integers >= 1")
    out = Path(out)
    pr_bits = pr_bits if pr_bits is not None else (32 if 32 in bits_list else bits_list[len(bits_list) // 2])
    results_path, pr_path = out / "results.json", out / "pr_curves.json"
    rows = json.loads(results_path.read_text()) if results_path.is_file() else []
    pr_curves = json.loads(pr_path.read_text()) if pr_path.is_file() else {}
    done = {(r["method"], r["bits"]) for r in rows}

    def record(method, bits, q, d, seconds, continuous=False, extra=None):
        row = {"method": method, "bits": bits, **evaluate(q, d, data, topk, continuous=continuous),
               "topk": topk, "convention": CONVENTION, "ties": TIES, "data": data.spec,
               "seed": config.seed, "seconds": round(seconds, 2), **(extra or {})}
        rows.append(row)
        done.add((method, bits))
        if bits == pr_bits and not continuous:
            p, r = retrieval.precision_recall_curve(q, d, data.y_query, data.y_database)
            pr_curves[method] = {"precision": np.asarray(p).tolist(), "recall": np.asarray(r).tolist(), "bits": bits}
            write_json_atomic(pr_curves, pr_path)
        write_json_atomic(rows, results_path)

    for bits in bits_list:
        base = dataclasses.replace(config, bits=bits)
        for method in methods:
            if (method, bits) in done or method == "HashNet+C":
                continue  # HashNet+C is evaluated from HashNet's model below
            t0 = time.perf_counter()
            if method in ("ITQ", "LSH"):
                if not is_main_process():
                    continue
                q, d = baseline_codes(method, data, bits, config.seed)
                record(method, bits, q, d, time.perf_counter() - t0)
                continue
            cfg = method_config(method, base)
            ckpt = out / "checkpoints" / f"{method}-{bits}.pt"
            model, history = fit(data, cfg, progress=progress, checkpoint=ckpt, resume=True)
            if not is_main_process():
                continue
            q, d = encode(model, data.query, device=cfg.device), encode(model, data.database, device=cfg.device)
            extra = {"final_beta": history[-1]["beta"], "final_loss": history[-1]["loss"],
                     "quantization_error": history[-1]["quantization_error"]}
            record(method, bits, q, d, time.perf_counter() - t0, extra=extra)
            if method == "HashNet" and "HashNet+C" in methods and ("HashNet+C", bits) not in done:
                beta = history[-1]["beta"]
                qc = encode(model, data.query, device=cfg.device, continuous=True, beta=beta)
                dc = encode(model, data.database, device=cfg.device, continuous=True, beta=beta)
                record("HashNet+C", bits, qc, dc, time.perf_counter() - t0, continuous=True)
    if not is_main_process():
        return rows
    order = {m: i for i, m in enumerate(METHODS)}
    rows.sort(key=lambda r: (order.get(r["method"], 99), r["bits"]))
    write_json_atomic(rows, results_path)
    write_text_atomic(results_markdown(rows, data, topk, preset, config), out / "results.md")
    _write_plots(rows, pr_curves, out, data.spec)
    return rows


def results_markdown(rows: list[dict], data, topk: int | None, preset: str | None, config: TrainConfig) -> str:
    """The methods x bits table, with the published numbers where the paper has them."""
    bits_list = sorted({r["bits"] for r in rows})
    table = {(r["method"], r["bits"]): r["map"] for r in rows}
    methods = [m for m in METHODS if any((m, b) in table for b in bits_list)]
    lines = [f"# Retrieval mAP on `{data.spec}`", "",
             f"Protocol: {data.protocol}", "",
             f"mAP@{'all' if topk is None else topk}; ties in Hamming distance broken by database index; "
             f"queries with no relevant item in their top list count as AP 0 (convention `{CONVENTION}`). "
             f"HashNet+C ranks by the inner product of the continuous outputs. ITQ and LSH are fitted "
             f"on the training items' flattened inputs. Backbone `{config.backbone}`, {config.iters} "
             f"iterations, seed {config.seed}.", "",
             "| method | " + " | ".join(f"{b} bits" for b in bits_list) + " |",
             "| --- |" + " --- |" * len(bits_list)]
    for m in methods:
        cells = [f"{table[(m, b)]:.4f}" if (m, b) in table else "-" for b in bits_list]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    published = PROTOCOLS[preset].published if preset in PROTOCOLS else None
    if published:
        cells = [f"{published[b]:.4f}" if b in published else "-" for b in bits_list]
        lines.append("| HashNet (paper, AlexNet) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _write_plots(rows, pr_curves, out: Path, title: str) -> None:
    from . import plots

    fig = plots.map_vs_bits(rows, title=f"mAP vs code length ({title})")
    plots.save_figure(fig, out / "map_vs_bits.png")
    if pr_curves:
        fig = plots.precision_recall(pr_curves, title=f"precision-recall ({title})")
        plots.save_figure(fig, out / "precision_recall.png")
