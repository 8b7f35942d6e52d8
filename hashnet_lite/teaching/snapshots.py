"""Watching continuation work: a training run that keeps snapshots of its codes.

``train_with_snapshots`` runs ``train.train`` unchanged and, through its per-step callback,
records every ``every`` steps (and before the first step) the pre-activations z of a few
probe items and the beta in force, and optionally evaluates the whole query set and database:

- ``quantization_error``: mean |h - sign(z)| over the database with h = tanh(beta z), the
  distance of the training-time output from the binary code (paper Sec. 3.3: continuation
  drives it to 0);
- ``map_binary``: mAP of the Hamming ranking of sign(z) (what is deployed);
- ``map_continuous``: mAP of the inner-product ranking of h (the HashNet-nobin ablation).

The callback evaluates in eval mode and restores train mode, and train() reseeds every step,
so the run with snapshots is the run without them (tested).
For the run without continuation (HashNet-sgn) pass
``methods.method_config("HashNet-sgn", config)``: the same initial weights, beta constant.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import TrainConfig
from ..continuation import beta_at
from ..train import train
from .gradients import build_estimator_model, evaluate_pre_activations, pre_activations
from .neighbours import display_images


@dataclass(frozen=True)
class Snapshot:
    """The state of a run after ``step`` steps (step 0: before training)."""

    step: int
    beta: float  # the beta of the last step taken (beta_at(0) for step 0)
    z_probe: np.ndarray  # (P, K) float32 pre-activations of the probe items
    quantization_error: float | None = None  # database, mean |tanh(beta z) - sign(z)|
    map_binary: float | None = None
    map_continuous: float | None = None

    @property
    def h_probe(self) -> np.ndarray:
        """tanh(beta z) of the probe items, (P, K): the codes as training sees them."""
        return np.tanh(self.beta * self.z_probe)


@dataclass(frozen=True)
class SnapshotRun:
    """A finished run: its config, train()'s history, the snapshots and the probe items."""

    name: str
    config: TrainConfig
    history: list
    snapshots: tuple
    probe_classes: np.ndarray  # (P,) int class of each probe item (its first label)
    probe_images: np.ndarray | None = None  # (P, H, W[, 3]) pictures in [0, 1]; None for feature vectors

    @property
    def steps(self) -> list[int]:
        return [s.step for s in self.snapshots]

    def at(self, step: int) -> Snapshot:
        """The last snapshot taken at or before ``step``."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step={step!r} is invalid: expected an integer >= 0")
        chosen = self.snapshots[0]
        for s in self.snapshots:
            if s.step <= step:
                chosen = s
        return chosen

    def series(self, key: str) -> tuple[list[int], list]:
        """(steps, values) of a snapshot field over training, e.g. ``"map_binary"``."""
        if key not in Snapshot.__dataclass_fields__:
            raise ValueError(f"key={key!r} is invalid: expected a Snapshot field {list(Snapshot.__dataclass_fields__)}")
        return self.steps, [getattr(s, key) for s in self.snapshots]


def snapshot_steps(iters: int, every: int) -> list[int]:
    """0, every, 2 every, ... and the last step ``iters``."""
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every={every!r} is invalid: expected an integer >= 1")
    if iters < 1:
        raise ValueError(f"iters={iters!r} is invalid: expected an integer >= 1")
    steps = list(range(0, iters + 1, every))
    return steps if steps[-1] == iters else steps + [iters]


def probe_indices(classes, per_class: int = 1) -> np.ndarray:
    """The first ``per_class`` items of every class, ordered by class then position."""
    classes = np.asarray(classes)
    if per_class < 1:
        raise ValueError(f"per_class={per_class!r} is invalid: expected an integer >= 1")
    return np.concatenate([np.flatnonzero(classes == c)[:per_class] for c in np.unique(classes)])


def train_with_snapshots(data, config: TrainConfig, *, every: int, name: str = "HashNet",
                         probe_per_class: int = 20, evaluate: bool = True, topk: int | None = None,
                         progress: bool = False) -> SnapshotRun:
    """Train HashNet on ``data`` as ``train.fit`` would, keeping a snapshot every ``every`` steps.

    Probe items: the first ``probe_per_class`` queries of each class (their z is stored at
    every snapshot). ``evaluate=True`` also encodes the query set and the database at each
    snapshot (the costly part: one forward pass over both).
    """
    classes = np.asarray(data.y_query).argmax(axis=1)
    probe = probe_indices(classes, probe_per_class)
    probe_set = _Subset(data.query, probe)
    wanted = set(snapshot_steps(config.iters, every))
    model = build_estimator_model("continuation", config, data.input_shape)  # = fit()'s model
    snapshots = []

    def snap(step: int, beta: float) -> None:
        z_probe = pre_activations(model, probe_set, device=config.device)
        metrics = {}
        if evaluate:
            z_query = pre_activations(model, data.query, device=config.device)
            z_database = pre_activations(model, data.database, device=config.device)
            scores = evaluate_pre_activations("continuation", z_query, z_database, data, beta, topk)
            metrics = {k: scores[k] for k in ("quantization_error", "map_binary", "map_continuous")}
        snapshots.append(Snapshot(step=step, beta=float(beta), z_probe=z_probe, **metrics))

    snap(0, beta_at(0, config))

    def callback(step: int, logs: dict) -> None:
        if step in wanted:
            snap(step, logs["beta"])

    history = train(model, data.train, config, progress=progress, callback=callback)
    images = display_images(data.query, probe) if len(data.input_shape) == 3 else None
    return SnapshotRun(name=name, config=config, history=history, snapshots=tuple(snapshots),
                       probe_classes=classes[probe], probe_images=images)


class _Subset:
    """Items ``index`` of a dataset (the package's datasets serve batches via __getitems__)."""

    def __init__(self, dataset, index):
        self.dataset, self.index = dataset, np.asarray(index)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        return self.dataset[int(self.index[i])]


class StepLog:
    """A ``train`` callback that keeps every step's loss, beta and quantization error.

    ``train``'s history averages the loss over ``log_every`` steps and starts at step 50; this
    log starts at step 1, whose loss is computed with the initial weights (before any update):
    with the hash layer's small initial weights every h is near 0, every pair has p = 1/2, and
    that first loss is log 2 = 0.693.
    """

    def __init__(self):
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.beta: list[float] = []
        self.quantization_error: list[float] = []

    def __call__(self, step: int, logs: dict) -> None:
        self.steps.append(int(step))
        self.loss.append(float(logs["loss"]))
        self.beta.append(float("nan") if logs["beta"] is None else float(logs["beta"]))  # a baseline: no beta
        self.quantization_error.append(float(logs["quantization_error"]))

    def __len__(self) -> int:
        return len(self.steps)
