"""Lesson 07, HashNet among its peers: penalty, margin and centres against continuation.

``train_with_curves`` trains one method of the registry and records, every few steps, how far
its outputs are from +-1 (the quantization error) and the mAP of its binary codes, so DHN's
penalty and HashNet's continuation can be watched side by side. ``penalty_gradients`` is what
each does to the gradient that reaches z, and ``results_table`` reads a committed comparison
from results/. The lesson's figures of them are in ``figures.lesson07``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import retrieval
from ..config import TrainConfig
from ..methods import NAMES, method_config
from ..model import build_model
from ..train import encode, train


@dataclass
class Curves:
    """One run's record: at each ``steps[i]``, the quantization error mean |h - sign(h)| of the
    batch and the mAP of the binary codes sign(z) on the query set."""

    name: str
    steps: list = field(default_factory=list)
    quantization_error: list = field(default_factory=list)
    map: list = field(default_factory=list)


def train_with_curves(data, config: TrainConfig, method: str, *, every: int, topk=None) -> Curves:
    """Train ``method`` (a name of the registry) on ``data`` with ``config`` (the preset), and
    evaluate every ``every`` steps. The evaluation never changes the run: training draws its
    randomness from (seed, step) and encoding uses a private generator."""
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"every={every!r} is invalid: expected an integer >= 1")
    cfg = method_config(method, config)
    model = build_model(cfg, data.input_shape)
    curves = Curves(method)

    def record(step: int, logs: dict) -> None:
        if step % every and step != cfg.iters:
            return
        model.eval()
        q, d = encode(model, data.query), encode(model, data.database)
        model.train()
        curves.steps.append(step)
        curves.quantization_error.append(float(logs["quantization_error"]))
        curves.map.append(retrieval.mean_average_precision(q, d, data.y_query, data.y_database, topk=topk))

    train(model, data.train, cfg, progress=False, callback=record)
    return curves


def penalty_gradients(z, *, penalty: float, beta: float) -> dict:
    """What reaches z, for a grid of pre-activations z (1-D):

    - ``"tanh"``: d tanh(z)/dz = 1 - tanh^2(z), the path every gradient of DHN takes;
    - ``"penalty"``: the gradient of DHN's penalty lambda log cosh(|h| - 1), h = tanh(z), on z:
      lambda tanh(|h| - 1) sign(h) (1 - h^2). It pushes |h| toward 1, and vanishes as it gets
      there: h never becomes binary;
    - ``"continuation"``: d tanh(beta z)/dz = beta (1 - tanh^2(beta z)), HashNet's path at
      this beta: steeper around 0, so small z are pushed apart, and flat elsewhere.
    """
    z = np.asarray(z, dtype=np.float64)
    h = np.tanh(z)
    return {"z": z,
            "tanh": 1.0 - h ** 2,
            "penalty": penalty * np.tanh(np.abs(h) - 1.0) * np.sign(h) * (1.0 - h ** 2),
            "continuation": beta * (1.0 - np.tanh(beta * z) ** 2)}


def results_table(folder, bits: int = 32) -> dict:
    """{method: mAP} at ``bits`` from a committed ``results.json`` (methods in the registry's order)."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: expected results written by "
                                "python -m hashnet_lite reproduce")
    rows = json.loads(path.read_text())
    found = {r["method"]: float(r["map"]) for r in rows if r.get("bits") == bits}
    return {m: found[m] for m in NAMES if m in found}
