"""Checkpoints: the model, the optimizer, the step and the config, as plain data on disk.

A checkpoint holds ``state_dict()``s, the step, the history so far and the config as a plain
dict, and is loaded with ``torch.load(..., weights_only=True)``, so a file from elsewhere can
hold tensors but never run code (a file that holds anything else is refused, and the message
says that loading it could run code). It is written atomically (``io.atomic_torch_save``): a
crash leaves the previous checkpoint, never a torn one. ``meta`` records what the model was
trained on: the data spec (``data``), ``input_shape`` and ``num_classes`` (so ``load_model``
can rebuild it), the ``split_seed`` and the ``data_fingerprint``
(``data.container.data_fingerprint``), so that a resume can tell other data from the same.
``version`` is the hashnet_lite version that wrote it; another version's checkpoint loads
with a warning that names both. Weights that are NaN or infinite are refused at load: such a
model would give every item the same code.

Compatibility: keys are only ever added. A checkpoint without the newer keys (``running``,
``scaler``, ``version``, ``meta['data_fingerprint']``, config fields added later) loads and
resumes; what it lacks is not compared.
"""
from __future__ import annotations

import pickle
import time
import warnings
from pathlib import Path

import torch

from . import __version__, distributed
from .config import RESUMABLE_FIELDS, TrainConfig
from .errors import CheckpointError
from .io import atomic_torch_save, path_problem
from .model import HashNet, build_model

START_AFRESH = "start afresh (CLI: --overwrite, or another --out)"


def check_resumable(saved: dict, config: TrainConfig, *, saved_meta: dict | None = None,
                    meta: dict | None = None, step: int | None = None, path=None) -> None:
    """A checkpoint resumes only the run it came from: the same config (but the fields in
    ``config.RESUMABLE_FIELDS``; fields added to TrainConfig after it was written count as
    their defaults), the same data (``meta['data_fingerprint']``, when both sides have one) and
    no more steps than ``config.iters`` (a run is continued, never cut back). Raises
    ``CheckpointError`` saying what differs and how to proceed."""
    where = f"resume: {str(path)!r}" if path is not None else "resume: the checkpoint"
    # The data first: other data select another preset, so its config differs too, and
    # "different data" is the cause the user needs to hear, not the preset's fields.
    if saved_meta is not None and meta is not None:
        _check_same_data(saved_meta, meta, where)
    saved = TrainConfig.from_dict(saved).to_dict()
    now = config.to_dict()
    changed = sorted(k for k in now if k not in RESUMABLE_FIELDS and saved[k] != now[k])
    if changed:
        details = ", ".join(f"{k}: checkpoint {saved[k]!r} vs now {now[k]!r}" for k in changed)
        raise CheckpointError(f"resume: the checkpoint was made with a different config ({details}); "
                              f"resume with the same options or {START_AFRESH}")
    if step is not None and step > config.iters:
        raise CheckpointError(f"{where} holds {step} steps, more than iters={config.iters}: a run is "
                              f"continued, never cut back; pass --iters {step} or more (the same number "
                              f"only re-evaluates it) or {START_AFRESH}")


def _describe(fp: dict) -> str:
    sizes = fp.get("sizes") or {}
    parts = "/".join(str(sizes.get(p, "?")) for p in ("train", "query", "database"))
    sha = (fp.get("sha256") or "none")[:12]
    return f"{fp.get('spec')!s}, split seed {fp.get('split_seed')}, {parts} items, sha256 {sha}"


def _check_same_data(saved_meta: dict, meta: dict, where: str) -> None:
    old, new = saved_meta.get("data_fingerprint"), meta.get("data_fingerprint")
    if old and new:
        if old.get("sha256") and new.get("sha256"):
            same = old["sha256"] == new["sha256"]  # the contents decide; a moved file is the same data
        else:
            same = all(old.get(k) == new.get(k) for k in ("spec", "split_seed", "sizes", "input_shape"))
        if not same:
            raise CheckpointError(f"{where} was trained on different data (checkpoint: {_describe(old)}; "
                                  f"now: {_describe(new)}); resume with the data it was trained on or "
                                  f"{START_AFRESH}")
        return
    # A checkpoint from before fingerprints: compare what it recorded.
    for key in ("input_shape", "data"):
        a, b = saved_meta.get(key), meta.get(key)
        if a is not None and b is not None and _plain(a) != _plain(b):
            raise CheckpointError(f"{where} was trained on different data ({key}: checkpoint "
                                  f"{a!r} vs now {b!r}); resume with the data it was "
                                  f"trained on or {START_AFRESH}")
    if new and not old:
        warnings.warn(f"{where} predates data fingerprints: only its data spec and input shape could be "
                      f"compared with the data now", UserWarning, stacklevel=3)


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def save_checkpoint(path: str | Path, model: HashNet, config: TrainConfig, *, optimizer=None, scaler=None,
                    step: int = 0, history: list | None = None, meta: dict | None = None,
                    running: dict | None = None) -> None:
    """state_dict + optimizer + step + config (plain data), written atomically.

    ``running`` holds what a resumed run needs to continue its history exactly (the loss
    sum and count of the record in progress, the seconds so far)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "step": int(step),
        "config": config.to_dict(),
        "history": list(history or []),
        "meta": dict(meta or {}),
        "running": dict(running or {}),
        "version": __version__,
    }
    atomic_torch_save(state, path)


def load_checkpoint_state(path: str | Path) -> dict:
    """The checkpoint's dict. FileNotFoundError if there is none; ``CheckpointError`` naming
    the file if it cannot be read or is not a hashnet_lite checkpoint."""
    path = Path(path)
    problem = path_problem(path)
    if problem == "does not exist":
        raise FileNotFoundError(f"checkpoint={str(path)!r} does not exist")
    if problem:
        raise CheckpointError(f"checkpoint={str(path)!r} {problem}; expected a file written by train()")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e):  # a damaged pickle, not a refused object
            raise _unreadable(path, e) from e
        raise CheckpointError(f"checkpoint {str(path)!r} is refused: it holds Python objects beyond tensors and "
                              f"plain data ({_unsafe_global(e)}), and loading them could run code; a "
                              f"hashnet_lite checkpoint never holds any. Use files written by train()") from e
    except Exception as e:  # a truncated file fails anywhere in torch's unpickler
        # (RuntimeError, UnpicklingError, EOFError, even KeyError): every failure to parse the
        # user's file means the same thing, so it is reported, with its type, as one error.
        raise _unreadable(path, e) from e
    required = ("model", "config", "step")
    if not (isinstance(state, dict) and all(k in state for k in required)
            and isinstance(state["model"], dict) and isinstance(state["config"], dict)):
        found = f"a dict with keys {sorted(map(str, state))}" if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {str(path)!r} is not a hashnet_lite checkpoint: it holds {found}; "
                              f"expected a dict with {', '.join(required)} (written by train())")
    bad = non_finite_weights(state["model"])
    if bad:
        raise CheckpointError(f"checkpoint {str(path)!r} holds NaN or infinite weights ({', '.join(bad[:3])}"
                              f"{', ...' if len(bad) > 3 else ''}): its run diverged or the file was damaged, "
                              f"and every item would get the same code; {START_AFRESH}")
    written_by = state.get("version")
    if written_by is not None and written_by != __version__:
        warnings.warn(f"checkpoint {str(path)!r} was written by hashnet_lite {written_by}, this is "
                      f"{__version__}: it loads, but its numbers may differ from what this version gives",
                      UserWarning, stacklevel=2)
    return state


def non_finite_weights(state_dict: dict) -> list[str]:
    """The names of the floating-point tensors of ``state_dict`` that hold NaN or inf."""
    return [name for name, t in state_dict.items()
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all()]


def _unreadable(path: Path, e: Exception) -> CheckpointError:
    why = " ".join(str(e).split())[:200]
    return CheckpointError(f"checkpoint {str(path)!r} cannot be read ({type(e).__name__}: {why}): it is "
                           f"truncated, damaged or not a checkpoint; delete it to {START_AFRESH}")


def _unsafe_global(e: Exception) -> str:
    """What torch's weights-only unpickler refused ("GLOBAL builtins.print"), from its message."""
    text = " ".join(str(e).split())
    return text.split("Unsupported global: ", 1)[1].split(" was not", 1)[0]


def load_model(path: str | Path) -> tuple[HashNet, TrainConfig, dict]:
    """(model in eval mode, config, meta) from a checkpoint whose meta holds ``input_shape``.

    To evaluate on the data it was trained on: ``load_data(meta["data"],
    seed=meta["split_seed"])`` (checkpoints older than the split seed: the training seed,
    ``config.seed``, drew the split); ``meta["data_fingerprint"]`` tells whether the data
    are still the same."""
    state = load_checkpoint_state(path)
    try:
        config = TrainConfig.from_dict(state["config"])
    except ValueError as e:
        raise CheckpointError(f"checkpoint {str(path)!r} holds a config this version cannot use: {e}") from e
    meta = state.get("meta") or {}
    if "input_shape" not in meta:
        raise CheckpointError(f"checkpoint {str(path)!r} has no meta['input_shape'], so the model cannot be "
                              f"rebuilt; expected a file written by train() (it records the input shape)")
    model = build_model(config, tuple(meta["input_shape"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:  # tensors whose shapes do not fit the model the config describes
        why = " ".join(str(e).split())[:300]
        raise CheckpointError(f"checkpoint {str(path)!r}: its weights do not fit the model its config "
                              f"and meta describe ({why})") from e
    model.input_shape = tuple(meta["input_shape"])  # encode() checks items against it
    return model.eval(), config, meta


def resume_training(path, model: HashNet, optimizer, scaler, config: TrainConfig, meta: dict | None) -> dict:
    """Loads the run saved in ``path`` into ``model``, ``optimizer`` and ``scaler`` when it
    belongs to this run (``check_resumable``: config, data, steps). Returns where it stopped:
    ``{"step", "history", "running"}`` (``running``: the loss sum, count and seconds of the
    record in progress)."""
    state = load_checkpoint_state(path)
    check_resumable(state["config"], config, saved_meta=state.get("meta") or {}, meta=meta or {},
                    step=state["step"], path=path)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:  # shapes that the checks above could not see (e.g. no fingerprint)
        raise CheckpointError(f"resume: the weights in {str(path)!r} do not fit this model "
                              f"({' '.join(str(e).split())[:300]})") from e
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state.get("scaler", {}) or scaler.state_dict())
    return {"step": state["step"], "history": list(state["history"]), "running": state.get("running") or {}}


class Checkpointer:
    """When a run saves itself to ``path`` (None: never): every ``config.checkpoint_interval``
    steps, at the end, and at a logged step when ``checkpoint_seconds`` of training have
    passed since the last save, so that a slow run never loses more than a few minutes. The
    wall-clock decision is taken at logged steps only, where every rank of a DDP run agrees
    (``agree``: True on all ranks if on any). Rank 0 writes; the others wait for it."""

    def __init__(self, path, config: TrainConfig, *, rank: int = 0, agree=bool):  # bool: one process agrees with itself
        self.path, self.config, self.rank, self.agree = path, config, rank, agree
        self.last = time.perf_counter()

    def due(self, step: int, done: bool) -> bool:
        """Whether to save after ``step`` steps."""
        if self.path is None:
            return False
        c = self.config
        late = step % c.log_every == 0 and self.agree(time.perf_counter() - self.last >= c.checkpoint_seconds)
        return step % c.checkpoint_interval == 0 or done or late

    def save(self, step: int, model, optimizer, scaler, history: list, meta: dict | None, running) -> None:
        """Writes the state after ``step`` steps; ``running()`` gives the record in progress."""
        self.last = time.perf_counter()
        if self.rank == 0:
            save_checkpoint(self.path, model, self.config, optimizer=optimizer, scaler=scaler, step=step,
                            history=history, meta=meta, running=running())
        distributed.barrier()
