"""A reproduction's result rows: what a row holds, the key of the run that made it, which
rows on disk were made otherwise, and the tables assembled from them.

``rows`` stores the row files and their locks; this module decides what goes in them. Each
row carries the key of everything that determines it (method, bits, the data fingerprint,
the seed, the config, R and the mAP conventions: ``run_key``). A reproduction keeps the
rows of its own key and refuses rows made otherwise, saying what differs, or with
``--overwrite`` removes them with their checkpoints so that they are made again: a row is
never relabelled.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from . import retrieval
from .config import IDENTITY_FIELDS, LATE_FIELDS, TrainConfig, read_old_forms
from .conventions import CONVENTION, TIES, evaluate
from .deep_baselines import DEEP_BASELINES, hadamard_fits
from .errors import RunFolderError
from .io import write_json_atomic, write_text_atomic
from .methods import NAMES, REGISTRY, method_config
from .report import results_markdown, write_plots
from .rows import RowStore, row_name
from .runs import note

# The name "HashNet+C" once meant the ranking of HashNet's continuous outputs: the
# registry's method of kind "continuous" (HashNet-nobin) now.
_FORMER_NAME = "HashNet+C"
_CONTINUOUS = next(name for name, m in REGISTRY.items() if m.kind == "continuous")


def checkpoint_path(out: Path, method: str, bits: int) -> Path:
    """Where a reproduction in ``out`` keeps the checkpoint of ``method`` at ``bits``."""
    return Path(out) / "checkpoints" / f"{method}-{bits}.pt"


def run_key(fingerprint: dict, config: TrainConfig, topk: int | None) -> str:
    """16 hex digits of a hash of everything that determines a reproduction's rows but the
    method and the bits: the data (its fingerprint), the config's identity
    (``TrainConfig.identity``: the fields that decide the numbers), R and the conventions.
    Rows with another key were made otherwise."""
    cfg = {k: v for k, v in config.identity().items() if k != "bits"}
    if cfg.get("continuous_similarity"):  # c_ij as Eq. 5 weights (loss.py), not the Caffe factor rows used to mean
        cfg["continuous_similarity"] = "c_ij in the similar pairs' weights"
    data = fingerprint.get("sha256") or [fingerprint.get(k) for k in ("spec", "split_seed", "sizes")]
    # The mosaics' seed draws the items themselves, so their sha256 already tells one seed from
    # another; their keys leave the seed out, as the committed fashion-mosaic rows were keyed.
    split_seed = None if str(fingerprint.get("spec")).startswith("fashion-mosaic") else fingerprint.get("split_seed")
    blob = {"data": data, "split_seed": split_seed, "config": cfg, "topk": topk,
            "convention": CONVENTION, "ties": TIES}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def _row_key(method: str, bits: int, run: str) -> str:
    return hashlib.sha256(json.dumps([method, bits, run]).encode()).hexdigest()[:16]


def make_row(method: str, bits: int, q, d, seconds: float, *, data, topk: int | None, seed: int,
             fingerprint: dict, run: str, pr_bits: int | None, continuous: bool = False,
             extra: dict | None = None, cfg: TrainConfig | None = None) -> dict:
    """The row of ``method`` at ``bits`` from its query and database codes ``q`` and ``d``
    (q = d = None: a failed training, ``extra`` says how): the mAP under the package's
    conventions, what determined it and the run's key; the binary codes' number of distinct
    database codes (fewer than the classes: ``status`` collapsed, with a warning) and, at
    ``pr_bits``, the precision-recall curve."""
    scores = {"map": None} if q is None else evaluate(q, d, data, topk, continuous=continuous)
    row = {"method": method, "bits": bits, **scores,
           "topk": topk, "convention": CONVENTION, "ties": TIES, "data": data.spec,
           "seed": seed, "split_seed": fingerprint["split_seed"], "seconds": round(seconds, 2),
           **(extra or {}), "config": cfg.to_dict() if cfg is not None else {"bits": bits, "seed": seed},
           "data_fingerprint": fingerprint, "run": run, "key": _row_key(method, bits, run)}
    if q is not None and not continuous:
        distinct = _distinct_codes(d)
        row["distinct_codes"] = distinct
        if distinct < max(2, data.num_classes):
            row["status"] = f"collapsed: {distinct} distinct codes"
            warnings.warn(f"{method} at {bits} bits collapsed: {distinct} distinct database codes for "
                          f"{data.num_classes} classes (mAP {row['map']:.4f})", RuntimeWarning, stacklevel=3)
    if bits == pr_bits and q is not None and not continuous:
        p, r = retrieval.precision_recall_curve(q, d, data.y_query, data.y_database)
        row["pr_curve"] = {"precision": np.asarray(p).tolist(), "recall": np.asarray(r).tolist()}
    return row


def _distinct_codes(codes: np.ndarray) -> int:
    return int(np.unique(np.asarray(codes) > 0, axis=0).shape[0])


def centres_kind(config: TrainConfig, num_classes: int) -> dict:
    """A hash-centre method's rows (CSQ) say how their centres were drawn (``deep_baselines.hash_centres``)."""
    baseline = DEEP_BASELINES.get(config.method)
    if baseline is None or not baseline.needs_centres:
        return {}
    return {"centres": "hadamard" if hadamard_fits(num_classes, config.bits) else "balanced"}


def _stale(row: dict, num_classes: int) -> bool:
    """A CSQ row made with the unbalanced Bernoulli centres drawn before (where no Hadamard
    matrix fits): its number is not what CSQ gives now."""
    if row.get("method") != "CSQ" or row.get("map") is None:
        return False
    drawn = (row.get("hyperparameters") or {}).get("centres")
    return drawn == "bernoulli" or (drawn is None and not hadamard_fits(num_classes, row["bits"]))


def kept_rows(out: Path, store: RowStore, run: str, fingerprint: dict, config: TrainConfig, topk: int | None,
              preset: str | None, *, num_classes: int, overwrite: bool) -> dict[str, dict]:
    """{row name: row} of the rows in ``out`` that the run of key ``run`` keeps. Rows made
    otherwise (another key, CSQ's former centres, or a config its method no longer gets)
    raise ``RunFolderError`` saying what differs, or with ``overwrite`` are removed with
    their checkpoints. Kept rows of a folder from before row files, or under a former name,
    are written as row files."""
    existing = _existing_rows(out, store, overwrite)
    foreign = {name: r for name, r in existing.items()
               if r.get("run") != run or _stale(r, num_classes) or _config_moved(r, config, preset)}
    if foreign:
        why = _made_otherwise(list(foreign.values()), fingerprint, config, topk, preset)
        if not overwrite:
            raise RunFolderError(
                f"{str(out)!r} holds {len(foreign)} result rows made otherwise ({why}); their numbers would be "
                f"shown under this run's labels. Pass --overwrite to remove them (and their checkpoints) and make "
                f"the rows asked for with these settings, or choose another --out")
        for name, r in foreign.items():
            store.remove(name)
            checkpoint_path(out, r["method"], r["bits"]).unlink(missing_ok=True)
        note(f"--overwrite: removed {len(foreign)} rows made otherwise ({why}) and their checkpoints: "
             f"{', '.join(sorted(foreign))}; the rows asked for are made with these settings")
        existing = {n: r for n, r in existing.items() if n not in foreign}
    for name, r in existing.items():  # rows of a folder from before row files, or renamed: one file each
        if store.read(name) != r:
            store.write(name, r)
    return existing


def _existing_rows(out: Path, store: RowStore, overwrite: bool) -> dict[str, dict]:
    """{row name: row} of the folder: its row files, and the rows of a results.json written
    before row files existed (legacy names renamed)."""
    rows = {}
    legacy = _read_json(out / "results.json", list, overwrite) or [] if not store.folder.is_dir() else []
    for r in legacy:
        r = _legacy_name(r)
        rows[row_name(r["method"], r["bits"])] = r
    if legacy:  # their curves lived in pr_curves.json
        curves = _read_json(out / "pr_curves.json", dict, overwrite) or {}
        curves = {(_CONTINUOUS if m == _FORMER_NAME else m): c for m, c in curves.items()}
        for r in rows.values():
            c = curves.get(r["method"])
            if isinstance(c, dict) and c.get("run") == r.get("run") and c.get("bits") == r["bits"]:
                r["pr_curve"] = {"precision": c["precision"], "recall": c["recall"]}
    for name, r in store.all().items():
        rows[name] = _legacy_name(r)
    return rows


def _read_json(path: Path, kind: type, overwrite: bool):
    """The JSON in ``path`` (``kind()`` if there is none). Unreadable: refused, or with
    ``overwrite`` None (started afresh: its rows are made again)."""
    if not path.is_file():
        return kind()
    try:
        value = json.loads(path.read_text())
        if not isinstance(value, kind) or (kind is list and not all(
                isinstance(r, dict) and "method" in r and "bits" in r for r in value)):
            raise ValueError(f"expected a JSON {kind.__name__} of rows")
        return value
    except (OSError, ValueError) as e:
        if overwrite:
            note(f"--overwrite: {str(path)!r} is unreadable ({type(e).__name__}); its rows are made again")
            return None
        raise RunFolderError(f"{str(path)!r} is unreadable ({type(e).__name__}: {e}); it may have been "
                             f"truncated. Pass --overwrite to make its rows again (finished checkpoints are "
                             f"reused) or move it away") from e


def _legacy_name(row: dict) -> dict:
    """A row written when "HashNet+C" named the ranking of HashNet's continuous outputs (rows
    without precision within radius 2, which a continuous method has none of): renamed to the
    registry's continuous method, HashNet-nobin, its number and run kept."""
    if row.get("method") == _FORMER_NAME and "precision_radius2" not in row and "status" not in row:
        row = {**row, "method": _CONTINUOUS}
        if "run" in row:
            row["key"] = _row_key(_CONTINUOUS, row["bits"], row["run"])
    return row


def _made_otherwise(rows: list[dict], fingerprint: dict, config: TrainConfig, topk, preset: str | None = None) -> str:
    """What differs between ``rows`` (made by another run) and this run, in words."""
    diffs = set()
    for r in rows:
        if "run" not in r:
            diffs.add("made before rows were keyed by their data and config")
            continue
        if _stale(r, fingerprint.get("num_classes") or 0):
            diffs.add("CSQ centres drawn as unbalanced Bernoulli rows (now balanced, K/2 of each sign, "
                      "a minimum distance apart)")
        if r.get("seed") != config.seed:
            diffs.add(f"seed {r.get('seed')} (now {config.seed})")
        old = r.get("data_fingerprint") or {}
        if old.get("sha256") != fingerprint.get("sha256") or old.get("split_seed") != fingerprint.get("split_seed"):
            diffs.add(f"data {old.get('spec')} split seed {old.get('split_seed')} (now {fingerprint['spec']} "
                      f"split seed {fingerprint['split_seed']})")
        if r.get("topk") != topk:
            diffs.add(f"topk {r.get('topk')} (now {topk})")
        try:
            changed = _config_diffs(r, config, preset)
        except ValueError as e:  # e.g. a HashNet option this run sets that the row's method refuses
            diffs.add(f"{r['method']} rows cannot be made with these options ({e})")
            continue
        diffs.update(f"{k} {then!r} (now {now!r})" for k, then, now in changed if then is not _ABSENT)
    return "; ".join(sorted(diffs)) or "other settings"


_ABSENT = object()  # a config field a row does not hold


def _config_diffs(row: dict, config: TrainConfig, preset: str | None) -> list[tuple]:
    """[(field, the row's value, this run's)] of a trained row's config against what its method
    gets now (fields a resume may change left out; a row without a field ran at its default if
    the field came late, else it shows as ``_ABSENT``); [] for other rows. ValueError when this
    run's options do not fit the row's method."""
    method = row.get("method")
    if method not in REGISTRY or REGISTRY[method].kind == "shallow" or not isinstance(row.get("config"), dict):
        return []
    name = "HashNet" if REGISTRY[method].kind == "continuous" else method  # ranks HashNet's model
    now = method_config(name, dataclasses.replace(config, bits=row["bits"]), preset=preset).to_dict()
    then = {**{k: getattr(TrainConfig(), k) for k in LATE_FIELDS}, **read_old_forms(row["config"])}
    return [(k, then.get(k, _ABSENT), v) for k, v in now.items()
            if k in IDENTITY_FIELDS and then.get(k, _ABSENT) != v]


def _config_moved(row: dict, config: TrainConfig, preset: str | None) -> bool:
    """Whether a trained row was made with another config than its method gets now, under
    the same run key: the run key holds the preset's config, and the registry's tuned
    settings (``methods.tuned``) are applied on top of it."""
    try:
        return any(k != "iters" for k, _, _ in _config_diffs(row, config, preset))  # iters is in the run key
    except ValueError:  # this run's options do not fit the row's method: not a row of this run
        return True


def assemble(out: str | Path, data, topk: int | None, preset: str | None, config: TrainConfig, *, run: str,
             pr_bits: int | None = None) -> list[dict]:
    """results.json, results.md, pr_curves.json and the plots, from the row files of ``run``.
    One process at a time (a lock under rows/), each reading the rows inside it, so the last
    to assemble writes every row written before it. The curves are those at ``pr_bits``, or
    where the folder has the most curves if it has none there."""
    out = Path(out)
    with RowStore(out).exclusive("assemble"):
        order = {m: i for i, m in enumerate(NAMES)}
        rows = [_legacy_name(r) for r in RowStore(out).all().values() if r.get("run") == run]
        rows.sort(key=lambda r: (order.get(r["method"], 99), r["bits"]))
        with_curves = [r["bits"] for r in rows if "pr_curve" in r]
        if with_curves and pr_bits not in with_curves:
            pr_bits = max(set(with_curves), key=with_curves.count)
        curves = {r["method"]: {**r["pr_curve"], "bits": r["bits"], "run": run} for r in rows
                  if "pr_curve" in r and r["bits"] == pr_bits}
        table = [{k: v for k, v in r.items() if k != "pr_curve"} for r in rows]
        write_json_atomic(table, out / "results.json")
        write_json_atomic(curves, out / "pr_curves.json")
        write_text_atomic(results_markdown(table, data, topk, preset, config), out / "results.md")
        write_plots([r for r in table if r.get("map") is not None], curves, out, data.spec)
    return table
