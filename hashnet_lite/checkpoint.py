"""Checkpoints: the model, the optimizer, the step and the config, as plain data on disk.

A checkpoint holds ``state_dict()``s, the step, the history so far and the config as a plain
dict, and is loaded with ``torch.load(..., weights_only=True)``, so a file from elsewhere can
hold tensors but never run code. It is written atomically (``io.atomic_torch_save``): a crash
leaves the previous checkpoint, never a torn one. ``meta`` records what the model was
trained on (the data spec, the input shape), so ``load_model`` can rebuild it.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .config import TrainConfig
from .io import atomic_torch_save
from .model import HashNet, build_model


def check_resumable(saved: dict, config: TrainConfig) -> None:
    """A checkpoint resumes only the run it came from (iters may grow). Fields added to
    TrainConfig after the checkpoint was written count as their defaults."""
    saved = TrainConfig.from_dict(saved).to_dict()
    now = config.to_dict()
    ignored = {"iters", "device", "num_workers", "checkpoint_every", "log_every"}
    changed = sorted(k for k in now if k not in ignored and saved[k] != now[k])
    if changed:
        details = ", ".join(f"{k}: checkpoint {saved[k]!r} vs now {now[k]!r}" for k in changed)
        raise ValueError(f"resume: the checkpoint was made with a different config ({details})")


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
    }
    atomic_torch_save(state, path)


def load_checkpoint_state(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint={str(path)!r} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_model(path: str | Path) -> tuple[HashNet, TrainConfig, dict]:
    """(model in eval mode, config, meta) from a checkpoint whose meta holds ``input_shape``."""
    state = load_checkpoint_state(path)
    config = TrainConfig.from_dict(state["config"])
    meta = state.get("meta") or {}
    if "input_shape" not in meta:
        raise ValueError(f"checkpoint={str(path)!r} has no meta['input_shape']; cannot rebuild the model")
    model = build_model(config, tuple(meta["input_shape"]))
    model.load_state_dict(state["model"])
    return model.eval(), config, meta
