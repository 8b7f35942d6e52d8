"""The figures of lesson 03 (notebooks/03_continuation.ipynb), continuation: beta's schedules and
the codes binarizing as it grows.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...plots import METHOD_STYLE


def plot_beta_schedules(iters: int, *, beta0: float = 1.0, gamma: float = 0.005, power: float = 0.5,
                        step_size: int = 200, steps_per_epoch: int = 78, epoch_step: int = 20):
    """beta over training: the authors' formula beta0 (1 + gamma t)^power, their staircase
    (recomputed every ``step_size`` steps) and the per-epoch staircase (epoch // epoch_step + 1)^0.5."""
    from ...continuation import authors_beta, staircase_beta

    if iters < 1 or steps_per_epoch < 1:
        raise ValueError(f"iters={iters!r}, steps_per_epoch={steps_per_epoch!r}: expected integers >= 1")
    t = np.arange(iters + 1)
    smooth = beta0 * (1.0 + gamma * t) ** power
    authors = np.array([authors_beta(int(s), beta0=beta0, gamma=gamma, power=power, step_size=step_size) for s in t])
    epochs = np.array([beta0 * staircase_beta(int(s) // steps_per_epoch, epoch_step=epoch_step) for s in t])
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.plot(t, smooth, color="0.5", lw=1, label=f"beta0 (1 + gamma t)^power = {smooth[-1]:.2f} at the end")
    ax.step(t, authors, where="post", color="C3", lw=2,
            label=f"authors: recomputed every {step_size} steps -> {authors[-1]:.2f}")
    ax.step(t, epochs, where="post", color="C0", lw=2, ls="--",
            label=f"per-epoch staircase ({steps_per_epoch} steps/epoch, every {epoch_step} epochs) -> {epochs[-1]:.2f}")
    ax.set_xlabel("training step t")
    ax.set_ylabel("beta")
    ax.set_title(f"continuation schedules: gamma = {gamma:g}, power = {power:g}, step size = {step_size}")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_beta_schedule_panels(iters: int, *, beta0: float = 1.0, gamma: float = 0.005, power: float = 0.5,
                              step_size: int = 200):
    """The static companion of ``widgets.schedule_explorer``: the authors' schedule with one slider
    moved at a time, three settings per panel (gamma, power, step size); the setting given is the
    middle one of each panel."""
    from ...continuation import authors_beta

    if iters < 1:
        raise ValueError(f"iters={iters!r}: expected an integer >= 1")
    t = np.arange(iters + 1)
    panels = {"gamma": [gamma / 4, gamma, gamma * 4], "power": [max(0.1, power / 2), power, min(1.0, power * 2)],
              "step size": [max(1, step_size // 4), step_size, max(1, min(iters // 2, step_size * 4))]}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharey=True)
    for ax, (name, values) in zip(axes, panels.items()):
        for value, color in zip(values, ("C0", "C3", "C2")):
            kw = dict(beta0=beta0, gamma=gamma, power=power, step_size=step_size)
            kw[name.replace(" ", "_")] = value
            beta = [authors_beta(int(s), **kw) for s in t]
            ax.step(t, beta, where="post", color=color, lw=2 if value == values[1] else 1.2,
                    label=f"{name} = {value:g} -> {beta[-1]:.2f}")
        ax.set(xlabel="training step t", title=f"moving {name}")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("beta")
    fig.tight_layout()
    return fig


def plot_binarization_steps(run, steps=None, n_items: int = 10):
    """The codes of a ``snapshots.SnapshotRun`` at a few steps: one column per step, the heat
    map of h = tanh(beta z) of one item per class above the histogram of all probe outputs
    (the static companion of ``widgets.snapshot_explorer``)."""
    all_steps = run.steps
    if steps is None:
        steps = [all_steps[0], all_steps[len(all_steps) // 3], all_steps[2 * len(all_steps) // 3], all_steps[-1]]
    classes = np.asarray(run.probe_classes)
    rows = np.array([np.flatnonzero(classes == c)[0] for c in np.unique(classes)])[:n_items]
    fig, axes = plt.subplots(2, len(steps), figsize=(3.3 * len(steps), 5.2), height_ratios=[1.2, 1.0],
                             squeeze=False)
    for j, step in enumerate(steps):
        snap = run.at(step)
        h = snap.h_probe
        axes[0, j].imshow(h[rows], cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
        axes[0, j].set_title(f"step {snap.step}, beta = {snap.beta:.2f}", fontsize=9)
        axes[0, j].set_xlabel("bit k", fontsize=8)
        axes[0, j].set_yticks(range(len(rows)) if j == 0 else [])
        if j == 0:
            axes[0, j].set_yticklabels([f"class {classes[r]}" for r in rows], fontsize=7)
        axes[1, j].hist(h.ravel(), bins=np.linspace(-1, 1, 31), color="C3")
        axes[1, j].set_xlim(-1.05, 1.05)
        axes[1, j].set_title(f"{100 * float((np.abs(h) > 0.9).mean()):.0f}% of |h| > 0.9", fontsize=9)
        axes[1, j].set_xlabel("h = tanh(beta z)", fontsize=8)
        axes[1, j].grid(alpha=0.3)
    fig.suptitle(f"{run.name}: the codes of one item per class (blue -1, red +1) and all probe outputs")
    fig.tight_layout()
    return fig


def plot_binarization_snapshot(run, step: int, n_items: int = 10):
    """A snapshot of a ``snapshots.SnapshotRun``: the probe items, a heat map of their codes
    h = tanh(beta z) (one row per item, one column per bit) and the histogram of h over all
    probe items, as training stood at ``step``."""
    snap = run.at(step)
    h = snap.h_probe  # (P, K)
    classes = np.asarray(run.probe_classes)
    rows = np.array([np.flatnonzero(classes == c)[0] for c in np.unique(classes)])[:n_items]
    fig, (ax, ax_hist) = plt.subplots(1, 2, figsize=(12, 4.4), width_ratios=[1.0, 0.8], layout="constrained")
    im = ax.imshow(h[rows], cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"class {classes[r]}" for r in rows], fontsize=8)
    if run.probe_images is not None:  # each item's picture left of its row, the labels further left
        ax.tick_params(axis="y", pad=42, length=0)
        cmap = "gray_r" if run.probe_images.ndim == 3 else None
        for i, r in enumerate(rows):
            thumb = ax.inset_axes([-0.09, 1 - (i + 0.95) / len(rows), 0.08, 0.9 / len(rows)])
            thumb.imshow(run.probe_images[r], cmap=cmap, vmin=0, vmax=1)
            thumb.set_axis_off()
    ax.set_xlabel("bit k")
    ax.set_title("h = tanh(beta z) of one item per class")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    ax = ax_hist
    ax.hist(h.ravel(), bins=np.linspace(-1, 1, 41), color="C3")
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("h = tanh(beta z)")
    ax.set_ylabel("count")
    near = float((np.abs(h) > 0.9).mean())
    ax.set_title(f"all {h.size:,} outputs of {h.shape[0]} items:\n{100 * near:.0f}% have |h| > 0.9")
    ax.grid(alpha=0.3)
    title = f"{run.name}: step {snap.step} of {run.config.iters}, beta = {snap.beta:.2f}"
    if snap.quantization_error is not None:
        title += f", database mean |h - sign(z)| = {snap.quantization_error:.3f}"
    fig.suptitle(title)
    return fig


def plot_continuation_curves(runs, title: str = "with and without continuation"):
    """beta, the database's quantization error and mAP (binary: solid, continuous: dashed)
    over training, one colour per ``snapshots.SnapshotRun``."""
    runs = list(runs.values()) if isinstance(runs, dict) else list(runs)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for i, run in enumerate(runs):
        color = METHOD_STYLE.get(run.name, {}).get("color", f"C{i}")
        steps, beta = run.series("beta")
        # each snapshot's beta drawn over the steps that led to it
        axes[0].plot(steps, beta, color=color, drawstyle="steps-pre", label=run.name)
        _, q = run.series("quantization_error")
        axes[1].plot(steps, q, color=color, marker="o", ms=3, label=run.name)
        _, mb = run.series("map_binary")
        _, mc = run.series("map_continuous")
        axes[2].plot(steps, mb, color=color, marker="o", ms=3, label=f"{run.name}: binary sign(z)")
        axes[2].plot(steps, mc, color=color, ls="--", label=f"{run.name}: continuous tanh(beta z)")
    for ax, label, sub in zip(axes, ("beta", "mean |h - sign(z)| (database)", "mAP"),
                              ("beta", "quantization error", "retrieval mAP")):
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.set_title(sub)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
