"""Methods x code lengths on one split, with results on disk.

The methods come from the registry in ``methods.py``: HashNet and its ablations (the
paper's Sec. 4.3: HashNet-W without the weights, HashNet-sgn without continuation, HashNet+C
trained with the continuous similarity c_ij) and HashNet-nobin (HashNet's continuous outputs
ranked without binarization), the deep baselines DHN, DPSH, DSH and CSQ on the same
network, loop, split and step budget, and ITQ and LSH fitted on the training items'
flattened inputs (the small data sets) or on backbone features computed a batch at a time
(list files; ``presets.SHALLOW_INPUTS`` says which, ``shallow_codes`` does it).

``train_and_evaluate`` is the ``train`` command; ``reproduce`` the ``reproduce`` command.
Every file is written atomically. A reproduction run keeps finished rows and skips them,
but only rows made by the same run: each row carries the key of everything that
determines it (method, bits, the data fingerprint, the seed, the config, R and the mAP
conventions), and rows made otherwise are refused or, with ``overwrite=True``, made again:
never relabelled.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import retrieval
from .baselines import ITQ, LSH
from .checkpoint import RESUMABLE_FIELDS, check_resumable, load_checkpoint_state, load_model
from .config import LATE_FIELDS, TrainConfig
from .data.container import data_fingerprint
from .distributed import is_main_process
from .errors import CheckpointError, RunFolderError, TrainingDiverged
from .io import save_npz_atomic, write_json_atomic, write_text_atomic
from .deep_baselines import hadamard_fits
from .methods import DEFAULT_METHODS, NAMES, REGISTRY, check_methods, loss_hyperparameters, method_config
from .model import torchvision_backbone
from .presets import PROTOCOLS
from .presets import shallow_inputs as preset_shallow_inputs
from .rows import RowStore, in_shard, row_name
from .runs import note
from .train import encode, fit, resolve_device

METHODS = NAMES  # every method of the registry, in the order tables list them
CONVENTION = "zero"  # queries with no relevant item in their top list count as AP 0
TIES = "index"  # ties in Hamming distance broken by database index


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


SHALLOW = {"ITQ": ITQ, "LSH": LSH}
# What a shallow row's "inputs" says -> how results.md says it.
SHALLOW_SOURCES = {
    "pixels": "the training items' flattened inputs (pixels)",
    "alexnet-fc7": "the 4,096-d fc7 features (after its ReLU) of an ImageNet-pretrained AlexNet, "
                   "the paper's DeCAF7 inputs",
    "hashnet-backbone": "the features of this run's trained HashNet backbone at the same code length "
                        "(no pretrained AlexNet weights file was on disk)",
}


def baseline_codes(method: str, data, bits: int, seed: int, **features) -> tuple[np.ndarray, np.ndarray]:
    """(query codes, database codes) of ITQ or LSH fitted on the training inputs (the
    flattened inputs; with ``net=`` and the other keywords of ``shallow_codes``, its features)."""
    return shallow_codes([method], data, bits, seed, **features)[method]


def shallow_codes(methods, data, bits: int, seed: int, *, net=None, device="cpu", batch_size: int = 256,
                  num_workers: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{method: (query codes, database codes)} of ITQ / LSH, all fitted on the same inputs.

    ``net=None``: the flattened inputs (``data.arrays``), each part held whole: cheap for small
    images, but an image-file part would be read into one N x 150,528 float array. Otherwise
    the features ``net(x)``, ``batch_size`` items at a time (``backbone_features``): only the
    training features are held (ITQ's PCA needs them all: N_train x D floats); queries and
    database go batch by batch straight to codes, and every method encodes the same batch, so
    the images are read and the network run once per part, whatever the number of methods.
    """
    unknown = [m for m in methods if m not in SHALLOW]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)!r}: expected one or more of {list(SHALLOW)}")
    if net is None:
        def chunks(part):
            yield data.arrays(part)
    else:
        def chunks(part):
            yield from backbone_features(net, getattr(data, part), device=device, batch_size=batch_size,
                                         num_workers=num_workers)
    train = next(chunks("train")) if net is None else _stacked(chunks("train"), len(data.train))
    models = {m: SHALLOW[m](bits, seed=seed).fit(train) for m in methods}
    del train  # before the other parts are read
    codes = {m: {} for m in methods}
    for part in ("query", "database"):
        n = len(getattr(data, part))
        out = {m: np.empty((n, bits), dtype=np.int8) for m in methods}  # filled in place
        start = 0
        for x in chunks(part):
            for m, model in models.items():
                out[m][start:start + len(x)] = model.encode(x)
            start += len(x)
        if start != n:
            raise ValueError(f"the {part} set yielded {start} items, expected {n}")
        for m in methods:
            codes[m][part] = out[m]
    return {m: (codes[m]["query"], codes[m]["database"]) for m in methods}


def backbone_features(net, dataset, *, device="cpu", batch_size: int = 256, num_workers: int = 0):
    """Yields the (B, D) float32 features ``net(x)`` of ``dataset``'s items in order, B <=
    ``batch_size``: under the test-time transform (no augmentation), in eval mode (no
    dropout; batch norm's running statistics), without gradients, on ``device``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid: expected an integer >= 1")
    device = resolve_device(device)
    net = net.to(device).eval()
    if hasattr(dataset, "without_augmentation"):
        dataset = dataset.without_augmentation()
    # A private generator: iterating a DataLoader draws a seed from the global RNG otherwise.
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=device.type == "cuda", generator=torch.Generator())
    for x, _ in loader:
        with torch.no_grad():  # not around the yield: the caller's code would run without gradients
            f = net(x.to(device, non_blocking=True)).flatten(1).float().cpu().numpy()
        yield f


def _stacked(chunks, n: int) -> np.ndarray:
    """The (n, D) array of the chunks, filled in place (never the chunks and their copy at once)."""
    out, start = None, 0
    for x in chunks:
        if out is None:
            out = np.empty((n, x.shape[1]), dtype=np.float32)
        out[start:start + len(x)] = x
        start += len(x)
    if out is None or start != n:
        raise ValueError(f"the training set yielded {start} items, expected {n}")
    return out


def _alexnet_weights_present(input_shape) -> bool:
    """Whether torchvision's ImageNet AlexNet weights file is on disk (where
    ``model.torchvision_backbone`` looks) and the inputs are 1- or 3-channel images."""
    import torchvision

    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        return False
    weights = torchvision.models.get_model_weights("alexnet").DEFAULT
    return (Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]).is_file()


def alexnet_fc7(input_shape) -> torch.nn.Module | None:
    """torchvision's ImageNet-pretrained AlexNet up to fc7 (the 4,096-d output of its second
    ReLU; fc8 replaced by Identity), or None when its weights file is not on disk or the
    inputs are not 1- or 3-channel images. Never downloads: without the file the shallow
    baselines take the trained HashNet backbone's features instead."""
    if not _alexnet_weights_present(input_shape):
        return None
    return torchvision_backbone("alexnet", input_shape[0], pretrained=True)[0]


def _trained_hashnet(out: Path, config: TrainConfig, meta: dict, preset: str | None = None):
    """This run's finished HashNet from ``out/checkpoints/HashNet-{bits}.pt``: refused if it
    was made otherwise (``CheckpointError``) or has not finished its steps."""
    path = out / "checkpoints" / f"HashNet-{config.bits}.pt"
    cfg = method_config("HashNet", config, preset=preset)
    state = load_checkpoint_state(path)
    check_resumable(state["config"], cfg, saved_meta=state.get("meta") or {}, meta=meta, step=state["step"],
                    path=path)
    if state["step"] < cfg.iters:
        raise CheckpointError(f"{str(path)!r} holds {state['step']} of {cfg.iters} steps: ITQ and LSH need a "
                              f"finished HashNet's features; include HashNet in --methods to finish it")
    return load_model(path)[0]


def run_key(fingerprint: dict, config: TrainConfig, topk: int | None) -> str:
    """16 hex digits of a hash of everything that determines a reproduction's rows but the
    method and the bits: the data (its fingerprint), the config (fields that leave the
    numbers alone excluded: device, workers, checkpoint and log intervals), R and the
    conventions. Rows with another key were made otherwise."""
    defaults = TrainConfig()
    cfg = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_FIELDS - {"iters"} and k != "bits"
           and not (k in LATE_FIELDS and v == getattr(defaults, k))}
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
    without precision within radius 2): renamed HashNet-nobin, its number and run kept."""
    if row.get("method") == "HashNet+C" and "precision_radius2" not in row and "status" not in row:
        row = {**row, "method": "HashNet-nobin"}
        if "run" in row:
            row["key"] = _row_key("HashNet-nobin", row["bits"], row["run"])
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
    then = {**{k: getattr(TrainConfig(), k) for k in LATE_FIELDS}, **row["config"]}
    return [(k, then.get(k, _ABSENT), v) for k, v in now.items()
            if k not in RESUMABLE_FIELDS - {"iters"} and then.get(k, _ABSENT) != v]


def _check_checkpoints(out: Path, units, config: TrainConfig, meta: dict, overwrite: bool,
                       preset: str | None = None) -> None:
    """Before any training: every checkpoint a unit would resume from must belong to this
    run (data, config, steps) and be readable; otherwise refused, or with ``overwrite``
    deleted (that row trains from scratch)."""
    for unit in units:
        if unit.method is None:
            continue
        path = out / "checkpoints" / f"{unit.method}-{unit.bits}.pt"
        if not path.is_file():
            continue
        try:
            state = load_checkpoint_state(path)
            check_resumable(state["config"], method_config(unit.method, dataclasses.replace(config, bits=unit.bits),
                                                           preset=preset),
                            saved_meta=state.get("meta") or {}, meta=meta, step=state["step"], path=path)
        except CheckpointError as e:
            if not overwrite:
                raise
            path.unlink()
            note(f"--overwrite: removed {str(path)!r} ({str(e).split(': ', 1)[-1][:120]}...)")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of a reproduction's work: a trained method at one code length (with the rows
    that come from its model: HashNet-nobin, and ITQ / LSH when they are fitted on its
    backbone), or the shallow methods of one code length."""

    bits: int
    method: str | None  # the trained method; None: shallow rows only
    rows: tuple  # the method names whose rows this unit writes

    @property
    def name(self) -> str:
        return row_name(self.method or "shallow", self.bits)


def _units(methods, bits_list, source: str) -> list[Unit]:
    """The units in a fixed order (the order shards are dealt from)."""
    units = []
    for bits in bits_list:
        shallow = tuple(m for m in methods if REGISTRY[m].kind == "shallow")
        with_hashnet = source == "hashnet-backbone" and "HashNet" in methods
        for m in methods:
            if REGISTRY[m].kind != "trained":
                continue
            rows = (m,)
            if m == "HashNet":
                rows += tuple(x for x in methods if REGISTRY[x].kind == "continuous")
                rows += shallow if with_hashnet else ()
            units.append(Unit(bits, m, rows))
        if shallow and not with_hashnet:
            units.append(Unit(bits, None, shallow))
    return units


def _distinct_codes(codes: np.ndarray) -> int:
    return int(np.unique(np.asarray(codes) > 0, axis=0).shape[0])


def _diverged_step(error: Exception) -> int | None:
    numbers = re.findall(r"step (?:\d+ and )?(\d+)", str(error)) or re.findall(r"and (\d+)", str(error))
    return int(numbers[-1]) if numbers else None


def reproduce(data, bits_list, out: str | Path, config: TrainConfig, *, topk: int | None,
              methods=DEFAULT_METHODS, preset: str | None = None, pr_bits: int | None = None,
              progress: bool = True, overwrite: bool = False, shallow_inputs: str | None = None,
              shard: tuple[int, int] | None = None) -> list[dict]:
    """Every method at every code length on one split. Each unit of work (a trained method at
    one code length; the shallow methods of one length) writes its rows to ``out/rows/`` and
    its checkpoint to ``out/checkpoints/``; ``results.json`` (rows of method, bits, map,
    topk, ...), ``results.md``, ``pr_curves.json`` and the plots are assembled from the row
    files. Several processes may work on one folder at once (``rows``): ``shard=(i, n)``
    takes the i-th of n disjoint shares of the units; any process skips the units that are
    written or that another process holds.

    Rows already written that this run would make (the same ``run_key``) are kept; rows made
    otherwise raise ``RunFolderError`` saying what differs, or with ``overwrite=True`` are
    removed with their checkpoints and made again, as are checkpoints of another run. A
    method whose training diverges, or whose codes collapse (fewer distinct database codes
    than classes), gets a row that says so (``status``) and the others go on. Under torchrun
    every rank trains; only rank 0 encodes, evaluates and writes.

    ``shallow_inputs`` ('pixels' or 'features'; None: ``presets.SHALLOW_INPUTS`` for the data)
    is what ITQ and LSH are fitted on. Features are the pretrained AlexNet's fc7 when its
    weights file is on disk, else those of HashNet at the same code length, trained by this
    run (in HashNet's unit) or finished earlier in ``out/checkpoints``; with neither, a
    ValueError before any training. Each shallow row records its ``inputs`` ('pixels',
    'alexnet-fc7' or 'hashnet-backbone'); the shallow rows of one code length share one pass
    over the data, and their ``seconds`` is that pass's."""
    methods = check_methods(methods)
    for m in methods:
        if REGISTRY[m].kind == "continuous" and "HashNet" not in methods:
            raise ValueError(f"methods={list(methods)!r}: {m} ranks the continuous outputs of HashNet's model; "
                             f"add HashNet to --methods")
    inputs = preset_shallow_inputs(data.spec) if shallow_inputs is None else shallow_inputs
    if inputs not in ("pixels", "features"):
        raise ValueError(f"shallow_inputs={shallow_inputs!r} is invalid: expected 'pixels', 'features' or None")
    bits_list = [int(b) for b in bits_list]
    if not bits_list or any(b < 1 for b in bits_list):
        raise ValueError(f"bits={bits_list!r} is invalid: expected one or more integers >= 1")
    out = Path(out)
    pr_bits = pr_bits if pr_bits is not None else (32 if 32 in bits_list else bits_list[len(bits_list) // 2])
    fingerprint = data_fingerprint(data)
    run = run_key(fingerprint, config, topk)
    store = RowStore(out)
    existing = _existing_rows(out, store, overwrite)
    foreign = {name: r for name, r in existing.items()
               if r.get("run") != run or _stale(r, data.num_classes) or _config_moved(r, config, preset)}
    if foreign:
        why = _made_otherwise(list(foreign.values()), fingerprint, config, topk, preset)
        if not overwrite:
            raise RunFolderError(
                f"{str(out)!r} holds {len(foreign)} result rows made otherwise ({why}); their numbers would be "
                f"shown under this run's labels. Pass --overwrite to remove them (and their checkpoints) and make "
                f"the rows asked for with these settings, or choose another --out")
        for name, r in foreign.items():
            store.remove(name)
            (out / "checkpoints" / f"{r['method']}-{r['bits']}.pt").unlink(missing_ok=True)
        note(f"--overwrite: removed {len(foreign)} rows made otherwise ({why}) and their checkpoints: "
             f"{', '.join(sorted(foreign))}; the rows asked for are made with these settings")
        existing = {n: r for n, r in existing.items() if n not in foreign}
    for name, r in existing.items():  # rows of a folder from before row files, or renamed: one file each
        if store.read(name) != r:
            store.write(name, r)
    meta = {"data": data.spec, "input_shape": list(data.input_shape), "data_fingerprint": fingerprint}
    source, fc7 = "pixels", None  # what the shallow rows are fitted on
    if inputs == "features" and any(REGISTRY[m].kind == "shallow" for m in methods):
        source = "alexnet-fc7" if _alexnet_weights_present(data.input_shape) else "hashnet-backbone"
    units = _units(methods, bits_list, source)
    mine = [u for i, u in enumerate(units) if in_shard(i, shard)]
    todo = [u for u in mine if any(row_name(m, u.bits) not in existing for m in u.rows)]
    kept = sum(1 for u in mine for m in u.rows if row_name(m, u.bits) in existing)
    _check_checkpoints(out, todo, config, meta, overwrite, preset)
    if source == "alexnet-fc7" and is_main_process() and any(u.method is None for u in todo):
        fc7 = alexnet_fc7(data.input_shape)  # loaded once, now: a damaged file fails before any training
    if source == "hashnet-backbone":
        for u in todo:  # before any training: is there a HashNet to take features from?
            if u.method is None and not (out / "checkpoints" / f"HashNet-{u.bits}.pt").is_file():
                raise ValueError(
                    f"ITQ and LSH on {data.spec!r} are fitted on backbone features (presets.SHALLOW_INPUTS), but "
                    f"there is no pretrained AlexNet weights file on disk and no HashNet at {u.bits} bits to take "
                    f"features from: include HashNet in --methods (or put torchvision's AlexNet weights in "
                    f"{Path(torch.hub.get_dir()) / 'checkpoints'})")
            if u.method is None:
                _trained_hashnet(out, dataclasses.replace(config, bits=u.bits), meta, preset)  # refused now if unusable

    def record(method, bits, q, d, seconds, continuous=False, extra=None, cfg=None):
        """Writes one row; q = d = None: a failed training (``extra`` says how). A row this run
        already holds is kept (a unit redone for one missing row rewrites no other)."""
        if existing.get(row_name(method, bits), {}).get("run") == run:
            return False
        scores = {"map": None} if q is None else evaluate(q, d, data, topk, continuous=continuous)
        row = {"method": method, "bits": bits, **scores,
               "topk": topk, "convention": CONVENTION, "ties": TIES, "data": data.spec,
               "seed": config.seed, "split_seed": fingerprint["split_seed"], "seconds": round(seconds, 2),
               **(extra or {}), "config": cfg.to_dict() if cfg is not None else {"bits": bits, "seed": config.seed},
               "data_fingerprint": fingerprint, "run": run, "key": _row_key(method, bits, run)}
        if q is not None and not continuous:
            distinct = _distinct_codes(d)
            row["distinct_codes"] = distinct
            if distinct < max(2, data.num_classes):
                row["status"] = f"collapsed: {distinct} distinct codes"
                warnings.warn(f"{method} at {bits} bits collapsed: {distinct} distinct database codes for "
                              f"{data.num_classes} classes (mAP {row['map']:.4f})", RuntimeWarning, stacklevel=2)
        if bits == pr_bits and q is not None and not continuous:
            p, r = retrieval.precision_recall_curve(q, d, data.y_query, data.y_database)
            row["pr_curve"] = {"precision": np.asarray(p).tolist(), "recall": np.asarray(r).tolist()}
        store.write(row_name(method, bits), row)
        existing[row_name(method, bits)] = row
        return True

    made = 0
    for unit in todo:
        with store.claim(unit.name) as claimed:
            if not claimed:
                note(f"{unit.name}: another process holds it; skipped")
                continue
            written = {row_name(m, unit.bits): store.read(row_name(m, unit.bits)) for m in unit.rows}
            if all(r is not None and r.get("run") == run for r in written.values()):
                existing.update(written)
                continue  # finished by another process since this one looked
            made += _run_unit(unit, data, config, out, meta, record, progress, source, fc7, preset)
    if not is_main_process():
        return []
    rows = assemble(out, data, topk, preset, config, run=run, pr_bits=pr_bits)
    note(f"kept {kept} rows, made {made}" + (f" (shard {shard[0]}/{shard[1]})" if shard else ""))
    return rows


def _centres_kind(config: TrainConfig, num_classes: int) -> dict:
    """CSQ's rows say how their centres were drawn (``deep_baselines.hash_centres``)."""
    if config.method != "CSQ":
        return {}
    return {"centres": "hadamard" if hadamard_fits(num_classes, config.bits) else "balanced"}


def _stale(row: dict, num_classes: int) -> bool:
    """A CSQ row made with the unbalanced Bernoulli centres drawn before (where no Hadamard
    matrix fits): its number is not what CSQ gives now."""
    if row.get("method") != "CSQ" or row.get("map") is None:
        return False
    drawn = (row.get("hyperparameters") or {}).get("centres")
    return drawn == "bernoulli" or (drawn is None and not hadamard_fits(num_classes, row["bits"]))


def _config_moved(row: dict, config: TrainConfig, preset: str | None) -> bool:
    """Whether a trained row was made with another config than its method gets now, under
    the same run key: the run key holds the preset's config, and the registry's tuned
    settings (``methods.tuned``) are applied on top of it."""
    try:
        return any(k != "iters" for k, _, _ in _config_diffs(row, config, preset))  # iters is in the run key
    except ValueError:  # this run's options do not fit the row's method: not a row of this run
        return True


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
        curves = {("HashNet-nobin" if m == "HashNet+C" else m): c for m, c in curves.items()}
        for r in rows.values():
            c = curves.get(r["method"])
            if isinstance(c, dict) and c.get("run") == r.get("run") and c.get("bits") == r["bits"]:
                r["pr_curve"] = {"precision": c["precision"], "recall": c["recall"]}
    for name, r in store.all().items():
        rows[name] = _legacy_name(r)
    return rows


def _run_unit(unit: Unit, data, config: TrainConfig, out: Path, meta: dict, record, progress: bool,
              source: str, fc7, preset: str | None) -> int:
    """Trains (or fits) one unit and records its rows; returns how many rows it wrote."""
    base = dataclasses.replace(config, bits=unit.bits)
    t0 = time.perf_counter()
    written = 0
    hashnet = None
    if unit.method is not None:
        cfg = method_config(unit.method, base, preset=preset)
        ckpt = out / "checkpoints" / f"{unit.method}-{unit.bits}.pt"
        try:
            model, history = fit(data, cfg, progress=progress, checkpoint=ckpt, resume=True)
        except TrainingDiverged as e:
            step = _diverged_step(e)
            warnings.warn(f"{unit.method} at {unit.bits} bits diverged ({e}); its row says so and the study "
                          f"goes on", RuntimeWarning, stacklevel=2)
            if is_main_process():
                status = f"diverged at step {step}" if step is not None else "diverged"
                for m in unit.rows:  # the rows that come from this model fail with it
                    written += record(m, unit.bits, None, None, time.perf_counter() - t0, cfg=cfg,
                                      extra={"status": status if m == unit.method else f"{unit.method} {status}",
                                             "error": str(e), "hyperparameters": loss_hyperparameters(cfg)})
            return written
        if not is_main_process():
            return 0
        hashnet = model if unit.method == "HashNet" else None
        # Batches of the training batch size: inference then never needs more memory than a
        # training step did (512 images of 224x224 through the small CNN: ~3 GB of activations).
        q = encode(model, data.query, device=cfg.device, batch_size=cfg.batch_size)
        d = encode(model, data.database, device=cfg.device, batch_size=cfg.batch_size)
        extra = {"final_beta": history[-1]["beta"], "final_loss": history[-1]["loss"],
                 "quantization_error": history[-1]["quantization_error"],
                 "hyperparameters": {**loss_hyperparameters(cfg), **_centres_kind(cfg, data.num_classes)}}
        written += record(unit.method, unit.bits, q, d, time.perf_counter() - t0, extra=extra, cfg=cfg)
        for m in unit.rows:
            if REGISTRY[m].kind == "continuous":
                beta = history[-1]["beta"]
                qc = encode(model, data.query, device=cfg.device, continuous=True, beta=beta, batch_size=cfg.batch_size)
                dc = encode(model, data.database, device=cfg.device, continuous=True, beta=beta,
                            batch_size=cfg.batch_size)
                written += record(m, unit.bits, qc, dc, time.perf_counter() - t0, continuous=True, cfg=cfg)
    shallow = [m for m in unit.rows if REGISTRY[m].kind == "shallow"]
    if shallow and is_main_process():
        t0 = time.perf_counter()
        net = fc7  # None for pixels
        if source == "hashnet-backbone":
            net = (hashnet or _trained_hashnet(out, base, meta, preset)).backbone
        codes = shallow_codes(shallow, data, unit.bits, config.seed, net=net, device=config.device,
                              batch_size=config.batch_size, num_workers=config.num_workers)
        for m in shallow:
            written += record(m, unit.bits, *codes[m], time.perf_counter() - t0, extra={"inputs": source})
    return written


def assemble(out: str | Path, data, topk: int | None, preset: str | None, config: TrainConfig, *, run: str,
             pr_bits: int | None = None) -> list[dict]:
    """results.json, results.md, pr_curves.json and the plots, from the row files of ``run``.
    One process at a time (a lock under rows/), each reading the rows inside it, so the last
    to assemble writes every row written before it. The curves are those at ``pr_bits``, or
    where the folder has the most curves if it has none there."""
    out = Path(out)
    with RowStore(out).exclusive("assemble"):
        order = {m: i for i, m in enumerate(METHODS)}
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
        _write_plots([r for r in table if r.get("map") is not None], curves, out, data.spec)
    return table


def results_markdown(rows: list[dict], data, topk: int | None, preset: str | None, config: TrainConfig) -> str:
    """The methods x bits table, with the published numbers where the paper has them."""
    if not rows:
        return f"# Retrieval mAP on `{data.spec}`\n\nNo rows yet.\n"
    bits_list = sorted({r["bits"] for r in rows})
    table = {(r["method"], r["bits"]): _cell(r) for r in rows}
    methods = [m for m in METHODS if any((m, b) in table for b in bits_list)]
    lines = [f"# Retrieval mAP on `{data.spec}`", "",
             f"Protocol: {data.protocol}", "",
             f"mAP@{'all' if topk is None else topk}; ties in Hamming distance broken by database index; "
             f"queries with no relevant item in their top list count as AP 0 (convention `{CONVENTION}`). "
             f"HashNet+C is HashNet trained with Eq. 5's continuous similarity c_ij (equal to HashNet on "
             f"single-label data); HashNet-nobin ranks HashNet's continuous outputs by inner product (no "
             f"binarization: an upper bound).{_shallow_note(rows)} "
             f"Backbone `{config.backbone}`, {config.iters} iterations, seed {config.seed}"
             f"{_split_note(data, config)}.", "",
             "| method | " + " | ".join(f"{b} bits" for b in bits_list) + " |",
             "| --- |" + " --- |" * len(bits_list)]
    for m in methods:
        cells = [table.get((m, b), "-") for b in bits_list]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    published = PROTOCOLS[preset].published if preset in PROTOCOLS else None
    if published:
        cells = [f"{published[b]:.4f}" if b in published else "-" for b in bits_list]
        lines.append("| HashNet (paper, AlexNet) | " + " | ".join(cells) + " |")
    failed = [r for r in rows if r.get("status")]
    if failed:
        lines += ["", "Rows that failed: " + "; ".join(f"{r['method']} at {r['bits']} bits {r['status']}"
                                                       for r in failed) + "."]
    return "\n".join(lines) + "\n"


def _cell(row: dict) -> str:
    """A table cell: the mAP, with a failed row's status."""
    if row.get("map") is None:
        return str(row.get("status", "failed"))
    return f"{row['map']:.4f}" + (" (collapsed)" if str(row.get("status", "")).startswith("collapsed") else "")


def _shallow_note(rows: list[dict]) -> str:
    """What ITQ and LSH were fitted on, per code length where the rows differ (rows from
    before the choice was recorded used the flattened inputs)."""
    bits_by_source = {}
    for r in rows:
        if r["method"] in SHALLOW:
            bits_by_source.setdefault(r.get("inputs", "pixels"), set()).add(r["bits"])
    if len(bits_by_source) <= 1:
        return "".join(f" ITQ and LSH are fitted on {SHALLOW_SOURCES.get(s, s)}." for s in bits_by_source)
    return " ITQ and LSH are fitted on " + "; ".join(
        f"{SHALLOW_SOURCES.get(s, s)} at {', '.join(map(str, sorted(b)))} bits"
        for s, b in sorted(bits_by_source.items())) + "."


def _split_note(data, config: TrainConfig) -> str:
    split_seed = getattr(data, "split_seed", None)
    return "" if split_seed is None or split_seed == config.seed else f" (split seed {split_seed})"


def _write_plots(rows, pr_curves, out: Path, title: str) -> None:
    from . import plots

    fig = plots.map_vs_bits(rows, title=f"mAP vs code length ({title})")
    plots.save_figure(fig, out / "map_vs_bits.png")
    if pr_curves:
        fig = plots.precision_recall(pr_curves, title=f"precision-recall ({title})")
        plots.save_figure(fig, out / "precision_recall.png")
