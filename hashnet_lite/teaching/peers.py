"""Lesson 07, HashNet among its peers: penalty, margin and centres against continuation.

``train_with_curves`` trains one method of the registry and records, every few steps, how far
its outputs are from +-1 (the quantization error) and the mAP of its binary codes, so DHN's
penalty and HashNet's continuation can be watched side by side. ``penalty_gradients`` and
``penalty_figure`` show what each does to the gradient that reaches z; ``curves_figure``
draws the runs, and ``results_table`` reads a committed comparison from results/.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
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


def penalty_figure(penalty: float = 0.1, beta: float = 5.0, zlim: float = 3.0):
    """Left: the outputs tanh(z) and tanh(beta z); right: the gradients of ``penalty_gradients``."""
    g = penalty_gradients(np.linspace(-zlim, zlim, 601), penalty=penalty, beta=beta)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(g["z"], np.tanh(g["z"]), label="DHN: h = tanh(z)")
    ax1.plot(g["z"], np.tanh(beta * g["z"]), label=f"HashNet: h = tanh({beta:g} z)")
    ax1.plot(g["z"], np.where(g["z"] >= 0, 1, -1), color="k", lw=0.8, ls=":", label="sign(z)")
    ax1.set(xlabel="z", ylabel="h", title="the outputs")
    ax2.plot(g["z"], g["tanh"], label="dh/dz, DHN")
    ax2.plot(g["z"], g["continuation"], label=f"dh/dz, HashNet at beta = {beta:g}")
    # minus the gradient: the direction gradient descent moves z (outward, away from 0), x10 to be seen
    ax2.plot(g["z"], -10 * g["penalty"], label=f"DHN's penalty: the push on z, x10 (lambda = {penalty:g})")
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set(xlabel="z", title="what reaches z")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def penalty_panels(penalties=(0.05, 0.1, 0.5), betas=(1.0, 5.0, 10.0), zlim: float = 3.0):
    """The static companion of ``widgets.penalty_explorer``: left, DHN's push on z for a few lambda
    (the "lambda" slider); right, HashNet's dh/dz for a few beta (the "beta" slider)."""
    z = np.linspace(-zlim, zlim, 601)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for penalty in penalties:
        push = -penalty_gradients(z, penalty=penalty, beta=1.0)["penalty"]  # the direction descent moves z
        ax1.plot(z, push, label=f"lambda = {penalty:g}: {abs(push).max():.3f} at z = 0")
    ax1.set(xlabel="z", title="DHN's penalty: the push on z (largest at z = 0)")
    for beta in betas:
        ax2.plot(z, penalty_gradients(z, penalty=0.0, beta=beta)["continuation"], label=f"beta = {beta:g}")
    ax2.set(xlabel="z", title="HashNet: dh/dz = beta (1 - tanh^2(beta z))")
    for ax in (ax1, ax2):
        ax.axhline(0, color="k", lw=0.5)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def curves_figure(runs: list[Curves], title: str = "penalty vs continuation"):
    """Quantization error (left) and mAP (right) against the training step, one line per run."""
    if not runs:
        raise ValueError("runs is empty: expected one or more Curves")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for run in runs:
        ax1.plot(run.steps, run.quantization_error, marker="o", ms=3, label=run.name)
        ax2.plot(run.steps, run.map, marker="o", ms=3, label=run.name)
    ax1.set(xlabel="training step", ylabel="mean |h - sign(h)|", title="quantization error")
    ax2.set(xlabel="training step", ylabel="mAP of sign(z)", title="retrieval")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def results_table(folder, bits: int = 32) -> dict:
    """{method: mAP} at ``bits`` from a committed ``results.json`` (methods in the registry's order)."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: expected results written by "
                                "python -m hashnet_lite reproduce")
    rows = json.loads(path.read_text())
    found = {r["method"]: float(r["map"]) for r in rows if r.get("bits") == bits}
    return {m: found[m] for m in NAMES if m in found}
