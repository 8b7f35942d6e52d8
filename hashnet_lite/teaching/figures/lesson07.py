"""The figures of lesson 07 (notebooks/07_hashnet_among_its_peers.ipynb), HashNet among its peers:
DHN's penalty against continuation. What they draw from is ``peers``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..peers import Curves, penalty_gradients


def plot_penalty(penalty: float = 0.1, beta: float = 5.0, zlim: float = 3.0):
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


def plot_penalty_panels(penalties=(0.05, 0.1, 0.5), betas=(1.0, 5.0, 10.0), zlim: float = 3.0):
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


def plot_curves(runs: list[Curves], title: str = "penalty vs continuation"):
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
