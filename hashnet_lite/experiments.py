"""The ``reproduce`` command: every method at every code length on one split, with results
on disk.

The methods come from the registry in ``methods.py``: HashNet and its ablations (the
paper's Sec. 4.3: HashNet-W without the weights, HashNet-sgn without continuation, HashNet+C
trained with the continuous similarity c_ij) and HashNet-nobin (HashNet's continuous outputs
ranked without binarization), the deep baselines DHN, DPSH, DSH and CSQ on the same
network, loop, split and step budget, and ITQ and LSH (``shallow``).

``reproduce`` reads in six steps, one function each:

1. ``_checked_request``: the methods, the shallow inputs and the code lengths, before anything is read;
2. ``result_rows.kept_rows``: the rows already on disk that this run keeps (the same
   ``run_key``); rows made otherwise are refused, or removed with ``overwrite``;
3. ``_units``: the grid as units of work, of which this process takes its shard's;
4. ``_preflight``: everything that can fail before any training (checkpoints of another
   run, the features the shallow rows need);
5. ``_work``: each unit claimed, trained or fitted, and its rows written (``_run_unit``);
6. ``result_rows.assemble``: results.json, results.md and the figures from the row files.

How a number is scored is ``conventions``; what a row holds, ``result_rows``; how the
table reads, ``report``; the ``train`` command (one method, one code length) is ``train_run``.
"""
from __future__ import annotations

import dataclasses
import re
import time
import warnings
from pathlib import Path

import torch

from .checkpoint import check_resumable, load_checkpoint_state, load_model
from .config import TrainConfig
from .data.container import data_fingerprint
from .distributed import is_main_process
from .errors import CheckpointError, TrainingDiverged
from .methods import DEFAULT_METHODS, REGISTRY, check_methods, loss_hyperparameters, method_config
from .presets import shallow_inputs as preset_shallow_inputs
from .result_rows import assemble, centres_kind, checkpoint_path, kept_rows, make_row, run_key
from .rows import RowStore, in_shard, row_name
from .runs import note
from .shallow import alexnet_fc7, alexnet_weights_present, shallow_codes
from .train import encode, fit


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

    ``shallow_inputs`` ('pixels' or 'features'; None: the data set's record in ``datasets.DATASETS``)
    is what ITQ and LSH are fitted on. Features are the pretrained AlexNet's fc7 when its
    weights file is on disk, else those of HashNet at the same code length, trained by this
    run (in HashNet's unit) or finished earlier in ``out/checkpoints``; with neither, a
    ValueError before any training. Each shallow row records its ``inputs`` ('pixels',
    'alexnet-fc7' or 'hashnet-backbone'); the shallow rows of one code length share one pass
    over the data, and their ``seconds`` is that pass's."""
    methods, inputs, bits_list = _checked_request(methods, shallow_inputs, bits_list, data.spec)
    out = Path(out)
    fingerprint = data_fingerprint(data)
    study = _Study(data, config, out, topk, preset, progress, fingerprint, run=run_key(fingerprint, config, topk),
                   pr_bits=pr_bits if pr_bits is not None else _middle_bits(bits_list),
                   source=_shallow_source(inputs, methods, data.input_shape))
    kept = kept_rows(out, study.store, study.run, fingerprint, config, topk, preset,
                     num_classes=data.num_classes, overwrite=overwrite)
    mine = [u for i, u in enumerate(_units(methods, bits_list, study.source)) if in_shard(i, shard)]
    todo = [u for u in mine if any(row_name(m, u.bits) not in kept for m in u.rows)]
    fc7 = _preflight(study, todo, overwrite)
    made = _work(study, todo, fc7)
    if not is_main_process():
        return []
    rows = assemble(out, data, topk, preset, config, run=study.run, pr_bits=study.pr_bits)
    n_kept = sum(1 for u in mine for m in u.rows if row_name(m, u.bits) in kept)
    note(f"kept {n_kept} rows, made {made}" + (f" (shard {shard[0]}/{shard[1]})" if shard else ""))
    return rows


@dataclasses.dataclass(frozen=True)
class _Study:
    """What every unit of one reproduction shares."""

    data: object
    config: TrainConfig  # the preset's; each unit's method and code length are applied to it
    out: Path
    topk: int | None
    preset: str | None
    progress: bool
    fingerprint: dict  # data.container.data_fingerprint
    run: str  # result_rows.run_key: every row of this run carries it
    pr_bits: int  # the code length whose rows carry a precision-recall curve
    source: str  # what the shallow rows are fitted on: 'pixels', 'alexnet-fc7' or 'hashnet-backbone'

    @property
    def store(self) -> RowStore:
        return RowStore(self.out)

    @property
    def meta(self) -> dict:
        """What a checkpoint of this run records of its data (``checkpoint.check_resumable``)."""
        return {"data": self.data.spec, "input_shape": list(self.data.input_shape),
                "data_fingerprint": self.fingerprint}

    def write(self, method: str, bits: int, q, d, seconds: float, **row) -> int:
        """Writes the row of ``method`` at ``bits`` (``result_rows.make_row``); returns 1."""
        self.store.write(row_name(method, bits), make_row(
            method, bits, q, d, seconds, data=self.data, topk=self.topk, seed=self.config.seed,
            fingerprint=self.fingerprint, run=self.run, pr_bits=self.pr_bits, **row))
        return 1


def _checked_request(methods, shallow_inputs: str | None, bits_list, spec: str) -> tuple[tuple, str, list[int]]:
    """(methods, what the shallow rows are fitted on, code lengths), each checked."""
    methods = check_methods(methods)
    for m in methods:
        if REGISTRY[m].kind == "continuous" and "HashNet" not in methods:
            raise ValueError(f"methods={list(methods)!r}: {m} ranks the continuous outputs of HashNet's model; "
                             f"add HashNet to --methods")
    inputs = preset_shallow_inputs(spec) if shallow_inputs is None else shallow_inputs
    if inputs not in ("pixels", "features"):
        raise ValueError(f"shallow_inputs={shallow_inputs!r} is invalid: expected 'pixels', 'features' or None")
    bits_list = [int(b) for b in bits_list]
    if not bits_list or any(b < 1 for b in bits_list):
        raise ValueError(f"bits={bits_list!r} is invalid: expected one or more integers >= 1")
    return methods, inputs, bits_list


def _middle_bits(bits_list: list[int]) -> int:
    """The code length whose precision-recall curves are drawn: 32 (the paper's figure), else the middle one."""
    return 32 if 32 in bits_list else bits_list[len(bits_list) // 2]


def _shallow_source(inputs: str, methods, input_shape) -> str:
    """What ITQ and LSH are fitted on: 'pixels'; for 'features', the pretrained AlexNet's
    fc7 ('alexnet-fc7') when its weights file is on disk, else the trained HashNet's
    backbone ('hashnet-backbone')."""
    if inputs == "features" and any(REGISTRY[m].kind == "shallow" for m in methods):
        return "alexnet-fc7" if alexnet_weights_present(input_shape) else "hashnet-backbone"
    return "pixels"


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


def _preflight(study: _Study, todo: list[Unit], overwrite: bool) -> torch.nn.Module | None:
    """Everything that can fail before any training: the checkpoints the units would resume
    from (``_check_checkpoints``) and the features the shallow rows need. Returns AlexNet's
    fc7 when the shallow rows are fitted on it (loaded once, now: a damaged file fails here)."""
    _check_checkpoints(study.out, todo, study.config, study.meta, overwrite, study.preset)
    fc7 = None
    if study.source == "alexnet-fc7" and is_main_process() and any(u.method is None for u in todo):
        fc7 = alexnet_fc7(study.data.input_shape)
    if study.source == "hashnet-backbone":
        for u in todo:  # is there a HashNet to take features from?
            if u.method is None and not checkpoint_path(study.out, "HashNet", u.bits).is_file():
                raise ValueError(
                    f"ITQ and LSH on {study.data.spec!r} are fitted on backbone features (its record in datasets.DATASETS), "
                    f"but there is no pretrained AlexNet weights file on disk and no HashNet at {u.bits} bits to "
                    f"take features from: include HashNet in --methods (or put torchvision's AlexNet weights in "
                    f"{Path(torch.hub.get_dir()) / 'checkpoints'})")
            if u.method is None:  # refused now if unusable
                _trained_hashnet(study.out, dataclasses.replace(study.config, bits=u.bits), study.meta, study.preset)
    return fc7


def _check_checkpoints(out: Path, units, config: TrainConfig, meta: dict, overwrite: bool,
                       preset: str | None = None) -> None:
    """Before any training: every checkpoint a unit would resume from must belong to this
    run (data, config, steps) and be readable; otherwise refused, or with ``overwrite``
    deleted (that row trains from scratch)."""
    for unit in units:
        if unit.method is None:
            continue
        path = checkpoint_path(out, unit.method, unit.bits)
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


def _trained_hashnet(out: Path, config: TrainConfig, meta: dict, preset: str | None = None):
    """This run's finished HashNet from ``out/checkpoints/HashNet-{bits}.pt``: refused if it
    was made otherwise (``CheckpointError``) or has not finished its steps."""
    path = checkpoint_path(out, "HashNet", config.bits)
    cfg = method_config("HashNet", config, preset=preset)
    state = load_checkpoint_state(path)
    check_resumable(state["config"], cfg, saved_meta=state.get("meta") or {}, meta=meta, step=state["step"],
                    path=path)
    if state["step"] < cfg.iters:
        raise CheckpointError(f"{str(path)!r} holds {state['step']} of {cfg.iters} steps: ITQ and LSH need a "
                              f"finished HashNet's features; include HashNet in --methods to finish it")
    return load_model(path)[0]


def _work(study: _Study, todo: list[Unit], fc7) -> int:
    """Claims each unit in turn and makes its missing rows; returns how many rows it wrote. A
    unit that another process holds, or has finished since this one looked, is skipped."""
    made = 0
    for unit in todo:
        with study.store.claim(unit.name) as claimed:
            if not claimed:
                note(f"{unit.name}: another process holds it; skipped")
                continue
            done = {m for m in unit.rows if (study.store.read(row_name(m, unit.bits)) or {}).get("run") == study.run}
            if len(done) < len(unit.rows):
                made += _run_unit(study, unit, done, fc7)
    return made


def _run_unit(study: _Study, unit: Unit, done: set, fc7) -> int:
    """Trains (or fits) one unit and writes its rows but those in ``done`` (a unit redone for
    one missing row rewrites no other); returns how many rows it wrote."""
    data, config = study.data, dataclasses.replace(study.config, bits=unit.bits)
    t0 = time.perf_counter()
    written = 0
    hashnet = None
    if unit.method is not None:
        cfg = method_config(unit.method, config, preset=study.preset)
        try:
            model, history = fit(data, cfg, progress=study.progress, resume=True,
                                 checkpoint=checkpoint_path(study.out, unit.method, unit.bits))
        except TrainingDiverged as e:
            warnings.warn(f"{unit.method} at {unit.bits} bits diverged ({e}); its row says so and the study "
                          f"goes on", RuntimeWarning, stacklevel=2)
            if not is_main_process():
                return 0
            step = _diverged_step(e)
            status = f"diverged at step {step}" if step is not None else "diverged"
            return sum(study.write(m, unit.bits, None, None, time.perf_counter() - t0, cfg=cfg,
                                   extra={"status": status if m == unit.method else f"{unit.method} {status}",
                                          "error": str(e), "hyperparameters": loss_hyperparameters(cfg)})
                       for m in unit.rows if m not in done)  # the rows that come from this model fail with it
        if not is_main_process():
            return 0
        hashnet = model if unit.method == "HashNet" else None
        # Batches of the training batch size: inference then never needs more memory than a
        # training step did (512 images of 224x224 through the small CNN: ~3 GB of activations).
        if unit.method not in done:
            q = encode(model, data.query, device=cfg.device, batch_size=cfg.batch_size)
            d = encode(model, data.database, device=cfg.device, batch_size=cfg.batch_size)
            extra = {"final_beta": history[-1]["beta"], "final_loss": history[-1]["loss"],
                     "quantization_error": history[-1]["quantization_error"],
                     "hyperparameters": {**loss_hyperparameters(cfg), **centres_kind(cfg, data.num_classes)}}
            written += study.write(unit.method, unit.bits, q, d, time.perf_counter() - t0, extra=extra, cfg=cfg)
        for m in unit.rows:
            if REGISTRY[m].kind == "continuous" and m not in done:
                beta = history[-1]["beta"]
                qc = encode(model, data.query, device=cfg.device, continuous=True, beta=beta, batch_size=cfg.batch_size)
                dc = encode(model, data.database, device=cfg.device, continuous=True, beta=beta,
                            batch_size=cfg.batch_size)
                written += study.write(m, unit.bits, qc, dc, time.perf_counter() - t0, continuous=True, cfg=cfg)
    shallow = [m for m in unit.rows if REGISTRY[m].kind == "shallow" and m not in done]
    if shallow and is_main_process():
        t0 = time.perf_counter()
        net = fc7  # None for pixels
        if study.source == "hashnet-backbone":
            net = (hashnet or _trained_hashnet(study.out, config, study.meta, study.preset)).backbone
        codes = shallow_codes(shallow, data, unit.bits, config.seed, net=net, device=config.device,
                              batch_size=config.batch_size, num_workers=config.num_workers)
        for m in shallow:
            written += study.write(m, unit.bits, *codes[m], time.perf_counter() - t0, extra={"inputs": study.source})
    return written


def _diverged_step(error: Exception) -> int | None:
    numbers = re.findall(r"step (?:\d+ and )?(\d+)", str(error)) or re.findall(r"and (\d+)", str(error))
    return int(numbers[-1]) if numbers else None
