"""The figures of lesson 05 (notebooks/05_train_and_retrieve.ipynb), train and retrieve: the
training steps, precision within a radius, the codes' map.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...plots import METHOD_STYLE


def plot_training_steps(log, title: str = "training, step by step"):
    """Loss (every step, and a moving average), beta and the batch's quantization error over
    training, from step 1 on (``log``: a ``snapshots.StepLog``); the loss panel marks log 2."""
    if len(log) == 0:
        raise ValueError("the log is empty: pass it to fit(..., callback=log) first")
    steps = np.asarray(log.steps)
    loss = np.asarray(log.loss)
    window = max(1, len(loss) // 20)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    axes[0].plot(steps, loss, color="C0", alpha=0.3, lw=0.8, label="each step (one batch)")
    axes[0].plot(steps[window - 1:], np.convolve(loss, np.ones(window) / window, mode="valid"), color="C0",
                 label=f"mean of {window} steps")
    axes[0].axhline(np.log(2), color="k", ls=":", lw=1, label="log 2 = 0.693")
    axes[0].plot(steps[:1], loss[:1], "o", color="C3", label=f"step 1: {loss[0]:.3f}")
    axes[0].set_ylabel("loss")
    axes[1].plot(steps, log.beta, color="C3")
    axes[1].set_ylabel("beta")
    axes[2].plot(steps, log.quantization_error, color="C2")
    axes[2].set_ylabel("mean |h - sign(h)| (batch)")
    for ax, sub in zip(axes, ("loss", "beta", "quantization error")):
        ax.set_xlabel("training step")
        ax.set_title(sub)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_radius_precision(curves: dict, title: str = "precision within Hamming radius r"):
    """Why the precision-recall curve rises at small radii. ``curves``: method -> dict with
    ``macro`` (per query, an empty ball counting 0, then the mean), ``micro`` (pooled over
    queries) and ``empty`` (share of queries with an empty ball), one value per radius 0..K."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for i, (m, c) in enumerate(curves.items()):
        color = METHOD_STYLE.get(m, {}).get("color", f"C{i}")
        r = np.arange(len(c["macro"]))
        axes[0].plot(r, c["macro"], color=color, label=f"{m}: per query, empty ball = 0")
        axes[0].plot(r, c["micro"], color=color, ls="--", label=f"{m}: pooled over queries")
        axes[1].plot(r, c["empty"], color=color, label=m)
    axes[0].set_ylabel("precision")
    axes[0].set_title("precision of the items within radius r")
    axes[1].set_ylabel("share of queries")
    axes[1].set_title("queries whose Hamming ball of radius r is empty")
    for ax in axes:
        ax.set_xlabel("Hamming radius r")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_code_embedding(xy, labels, *, class_names=None, title: str = "UMAP of the codes (Hamming distance)"):
    """A scatter of 2-D points ``xy`` (N, 2) coloured by class (``checks.class_ids`` of ``labels``)."""
    from ...checks import class_ids

    xy = np.asarray(xy, dtype=float)
    classes = class_ids(labels)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(classes):
        raise ValueError(f"xy has shape {xy.shape} and labels {len(classes)} rows: expected (N, 2) and N labels")
    fig, ax = plt.subplots(figsize=(6.5, 5))
    present = np.unique(classes)
    cmap = plt.get_cmap("tab10" if len(present) <= 10 else "tab20")
    for i, c in enumerate(present):
        at = classes == c
        name = "no label" if c < 0 else (str(class_names[c]) if class_names is not None else str(c))
        ax.scatter(xy[at, 0], xy[at, 1], s=6, alpha=0.7, color=cmap(i % cmap.N), label=name)
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_title(title)
    ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5), title="class")
    fig.tight_layout()
    return fig
