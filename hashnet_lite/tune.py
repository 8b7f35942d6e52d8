"""Every deep method at its own best: one search protocol for all of them.

For each method the search draws the same number of trials from one grid: the backbone's
learning rate (a multiple of the preset's), the hash layer's learning-rate multiplier, and
the method's own trade-off (HashNet's alpha, DHN's lambda, DPSH's eta, DSH's alpha, CSQ's
lambda). Trial 0 is HashNet's settings (the preset's lr, multiplier 10, the method's paper
default), trial 1 the method's authors' multiplier and trade-off where they differ, the
rest a seeded draw without replacement. Every trial trains the same network for the same
steps (``shortened`` keeps the schedules' shape), and is scored by mAP@all on a validation
split carved from the training set: 20% of the training items are the validation queries,
the other 80% train and are the validation database. The queries and the database of the
protocol are never seen. A trial that diverges scores nothing and loses.

Trials are rows (``rows``): ``--jobs`` and ``--shard`` spread them as for ``reproduce``.
The choice per method is written to ``tune.json`` (with every trial) and ``tune.md``;
``hashnet_lite/tuned.json`` holds the choices the registry uses (``methods.tuned``).
"""
from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path

import numpy as np

from . import retrieval
from .config import TrainConfig
from .data.container import ArrayDataset, RetrievalData, data_fingerprint
from .deep_baselines import DEEP_BASELINES
from .errors import TrainingDiverged
from .io import write_json_atomic, write_text_atomic
from .methods import REGISTRY, check_methods, method_config
from .presets import shortened
from .rows import RowStore, in_shard, row_name
from .runs import note
from .train import encode, fit

LR_SCALES = (0.1, 0.3, 1.0, 3.0)
HASH_LR_MULTS = (1.0, 10.0, 100.0)
# Each method's trade-off: (TrainConfig field, values; the first is the paper's default).
# HashNet's is alpha = scale * 10 / K; a baseline's is its quantization weight (its record).
TRADE_OFFS = {"HashNet": ("alpha_scale", (1.0, 0.5, 2.0)),
              **{b.name: ("quantization_weight", b.trade_offs) for b in DEEP_BASELINES.values()}}
# The authors' own hash-layer multiplier and trade-off (trial 1).
AUTHORS = {"HashNet": (10.0, 1.0), **{b.name: b.authors for b in DEEP_BASELINES.values()}}
TUNABLE = tuple(TRADE_OFFS)
VALIDATION_FRACTION = 0.2


def validation_split(data: RetrievalData, *, seed: int = 0) -> RetrievalData:
    """The training set split into validation training items / queries; the validation
    database is the validation training items (as the Fashion-MNIST protocol's database holds
    its training items)."""
    train = data.train
    if not isinstance(train, ArrayDataset):
        raise ValueError(f"tune needs a training set held in arrays (digits, fashion-mnist, npz:); "
                         f"{data.spec!r} has {type(train).__name__}")
    n = len(train)
    order = np.random.default_rng(seed).permutation(n)
    n_query = max(1, int(round(VALIDATION_FRACTION * n)))
    q_idx, t_idx = np.sort(order[:n_query]), np.sort(order[n_query:])
    base = np.arange(n) if train.index is None else train.index
    part = lambda idx, augment=None: ArrayDataset(train.x, train.y, index=base[idx], augment=augment)  # noqa: E731
    y = data.y_train
    return RetrievalData(
        spec=f"{data.spec} (validation split {seed})", train=part(t_idx, train.augment), query=part(q_idx),
        database=part(t_idx), y_train=y[t_idx], y_query=y[q_idx], y_database=y[t_idx],
        input_shape=data.input_shape, num_classes=data.num_classes, topk=None,
        protocol=f"validation split of {data.spec}'s {n:,} training items (seed {seed}): {len(q_idx):,} queries, "
                  f"{len(t_idx):,} training items = database; mAP@all",
        split_seed=seed)


def trials(method: str, n: int, *, seed: int = 0) -> list[dict]:
    """The ``n`` settings tried for ``method``: trial 0 HashNet's, trial 1 the authors', then a
    seeded draw from the rest of the grid. Each: {lr_scale, hash_lr_mult, trade_off}."""
    field, values = TRADE_OFFS[method]
    grid = [dict(lr_scale=a, hash_lr_mult=b, trade_off=c) for a, b, c in
            itertools.product(LR_SCALES, HASH_LR_MULTS, values)]
    first = [dict(lr_scale=1.0, hash_lr_mult=10.0, trade_off=values[0])]
    mult, trade = AUTHORS[method]
    authors = dict(lr_scale=1.0, hash_lr_mult=mult, trade_off=trade)
    if authors not in first:
        first.append(authors)
    rest = [g for g in grid if g not in first]
    rng = np.random.default_rng([seed, sorted(TRADE_OFFS).index(method)])
    drawn = [rest[i] for i in rng.permutation(len(rest))]
    return (first + drawn)[:n]


def apply(method: str, setting: dict, config: TrainConfig) -> TrainConfig:
    """``config`` (the method's) with one setting of the search."""
    field, _ = TRADE_OFFS[method]
    changes = dict(lr=config.lr * setting["lr_scale"], hash_lr_mult=setting["hash_lr_mult"])
    if field == "alpha_scale":
        changes["alpha"] = setting["trade_off"] * 10.0 / config.bits
    else:
        changes[field] = setting["trade_off"]
    return dataclasses.replace(config, **changes)


def tune(data: RetrievalData, config: TrainConfig, out: str | Path, *, methods=TUNABLE, n_trials: int = 8,
         iters: int | None = None, seed: int = 0, preset: str | None = None, shard=None,
         progress: bool = False) -> dict:
    """Runs the trials of ``methods`` (this process's share) and writes ``tune.json`` and
    ``tune.md`` from every trial written so far. ``config``: the preset's, at the code length
    tuned; ``iters``: the trials' steps (None: the preset's)."""
    methods = check_methods(methods)
    untunable = [m for m in methods if m not in TRADE_OFFS]
    if untunable:
        raise ValueError(f"methods={list(methods)!r}: {untunable} have no search; expected some of {list(TUNABLE)}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"trials={n_trials!r} is invalid: expected an integer >= 1")
    out = Path(out)
    val = validation_split(data, seed=seed)
    fingerprint = data_fingerprint(val)
    store = RowStore(out)
    units = [(m, i, s) for m in methods for i, s in enumerate(trials(m, n_trials, seed=seed))]
    expected = {}  # this search's trials: {row name: config as plain data}
    for m, i, setting in units:
        cfg = apply(m, setting, method_config(m, config, preset=None))
        expected[row_name(m, config.bits, f"t{i}")] = shortened(cfg, iters) if iters not in (None, cfg.iters) else cfg
    made = 0
    for k, (m, i, setting) in enumerate(units):
        name = row_name(m, config.bits, f"t{i}")
        cfg = expected[name]
        old = store.read(name)
        if not in_shard(k, shard) or (old is not None and _same_config(old, cfg)
                                      and old.get("data_fingerprint") == fingerprint):
            continue
        with store.claim(name) as mine:
            if not mine:
                continue
            t0 = time.perf_counter()
            row = {"method": m, "bits": config.bits, "trial": i, **setting, "iters": cfg.iters}
            try:
                model, history = fit(val, cfg, progress=progress)
                q = encode(model, val.query, device=cfg.device, batch_size=cfg.batch_size)
                d = encode(model, val.database, device=cfg.device, batch_size=cfg.batch_size)
                row["map"] = float(retrieval.mean_average_precision(q, d, val.y_query, val.y_database, topk=None,
                                                                    empty="zero", ties="index"))
                row["distinct_codes"] = int(np.unique(d > 0, axis=0).shape[0])
            except TrainingDiverged as e:
                row.update(map=None, status=f"diverged ({e})")
            row.update(seconds=round(time.perf_counter() - t0, 2), config=cfg.to_dict(), data_fingerprint=fingerprint)
            store.write(name, row)
            made += 1
    summary = summarize(store, methods, config.bits,
                        {name: (cfg.to_dict(), fingerprint) for name, cfg in expected.items()})
    summary.update(data=data.spec, validation=val.protocol, trials_per_method=n_trials,
                   iters=iters if iters is not None else config.iters, preset=preset, seed=seed)
    write_json_atomic(summary, out / "tune.json")
    write_text_atomic(tune_markdown(summary), out / "tune.md")
    note(f"tune: made {made} trials" + (f" (shard {shard[0]}/{shard[1]})" if shard else ""))
    return summary


def summarize(store: RowStore, methods, bits: int, expected: dict) -> dict:
    """{"chosen": {method: setting + map}, "trials": [rows], "missing": [names]} of this search's
    trials written so far (``expected``: {row name: (config, data fingerprint)}; rows of another
    search in the folder are left out); the best mAP wins (a tie: the lower trial number)."""
    found = store.all()
    rows = [found[n] for n, (cfg, fp) in expected.items()
            if n in found and _same_config(found[n], cfg) and found[n].get("data_fingerprint") == fp]
    rows.sort(key=lambda r: (list(methods).index(r["method"]), r["trial"]))
    chosen = {}
    for m in methods:
        scored = [r for r in rows if r["method"] == m and r.get("map") is not None]
        if scored:
            best = max(scored, key=lambda r: (r["map"], -r["trial"]))
            chosen[m] = {k: best[k] for k in ("lr_scale", "hash_lr_mult", "trade_off", "trial", "map")}
            chosen[m]["trade_off_field"] = TRADE_OFFS[m][0]
    trial_rows = [{k: v for k, v in r.items() if k not in ("config", "data_fingerprint")} for r in rows]
    missing = sorted(set(expected) - {row_name(r["method"], r["bits"], f"t{r['trial']}") for r in rows})
    return {"chosen": chosen, "trials": trial_rows, "missing": missing}


def tune_markdown(summary: dict) -> str:
    lines = [f"# Hyperparameter search on `{summary.get('data')}`", "",
             f"{summary.get('validation')}. {summary.get('trials_per_method')} trials per method, "
             f"{summary.get('iters')} steps each; the best validation mAP is chosen.", "",
             "| method | trial | lr x | hash-layer x | trade-off | validation mAP |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in summary["trials"]:
        best = summary["chosen"].get(r["method"], {}).get("trial") == r["trial"]
        score = f"{r['map']:.4f}" if r.get("map") is not None else r.get("status", "failed").split(" (")[0]
        lines.append(f"| {r['method']} | {r['trial']}{' (chosen)' if best else ''} | {r['lr_scale']:g} | "
                     f"{r['hash_lr_mult']:g} | {TRADE_OFFS[r['method']][0]} {r['trade_off']:g} | {score} |")
    return "\n".join(lines) + "\n"


def _same_config(row: dict, config) -> bool:
    """Whether a trial's row was trained with ``config`` (a TrainConfig or its plain data):
    the fields that decide its numbers, read through today's forms."""
    if not isinstance(row.get("config"), dict):
        return False
    now = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    try:
        return TrainConfig.from_dict(row["config"]).identity() == now.identity()
    except ValueError:
        return False
