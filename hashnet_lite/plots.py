"""The results figures: mAP against code length, precision-recall, the demo (training curves and mAP).

Every function returns a matplotlib Figure and never shows it. No backend is forced:
matplotlib picks Agg where there is no display, and Jupyter keeps its inline backend. The
lessons' own figures are in ``hashnet_lite.teaching.figures``.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .io import atomic_write
from .methods import REGISTRY

# Each method's line style, from its registry record (methods.REGISTRY).
METHOD_STYLE = {name: dict(m.style) for name, m in REGISTRY.items()}


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save atomically as PNG and close the figure."""
    path = atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight"), suffix=".png")
    plt.close(fig)
    return path


def map_vs_bits(rows: list[dict], title: str = "mAP vs code length"):
    """One line per method through its (bits, map) rows; with a single code length there is no
    line to draw, so a bar per method (``map_bars``) instead."""
    lengths = {r["bits"] for r in rows}
    if len(lengths) == 1:
        fig = map_bars({r["method"]: r["map"] for r in rows}, title=f"{title}, {lengths.pop()} bits")
        fig.tight_layout()
        return fig
    return metric_vs_bits(rows, "map", "mAP", title)


def finish_axes(ax, xlabel: str, ylabel: str, title: str) -> None:
    """The labels, the [0, 1] y range of a retrieval metric, a light grid and the legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def precision_recall(curves: dict, title: str = "precision-recall over Hamming radii"):
    """``curves``: method -> {"precision": [...], "recall": [...]} (one point per radius)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for m, c in curves.items():
        style = dict(METHOD_STYLE.get(m, {}))
        style["markersize"] = 3
        ax.plot(c["recall"], c["precision"], label=m, **style)
    ax.set_xlim(0, 1)
    finish_axes(ax, "recall", "precision", title)
    return fig


def bar_labels(ax, bars, values, fontsize: int = 7) -> None:
    """Each bar's value written upright, inside the top of its bar (above a short one): in a
    panel of ten narrow bars, level labels of neighbours run into each other ("0.9740.973")."""
    for b, v in zip(bars, values):
        inside = v >= 0.15
        ax.text(b.get_x() + b.get_width() / 2, v - 0.015 if inside else v + 0.015, f"{v:.3f}", rotation=90,
                ha="center", va="top" if inside else "bottom", fontsize=fontsize, color="white" if inside else "black")


def map_bars(scores: dict, title: str = "mAP"):
    """A bar per method: ``scores`` maps a name to its mAP."""
    names = list(scores)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(names)), 3.4))
    values = [scores[n] for n in names]
    bars = ax.bar(names, values, color=[METHOD_STYLE.get(n, {}).get("color", "C0") for n in names])
    for b, v in zip(bars, values):
        ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.3f}", ha="center", fontsize=9)
    if len(names) > 5:  # long names side by side would overlap
        ax.tick_params(axis="x", labelrotation=30)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("mAP")
    ax.set_title(title)
    return fig


def demo_figure(history: list[dict], scores: dict, title: str):
    """The demo's picture: the training curves and the mAP of each method."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    steps = [h["step"] for h in history]
    axes[0].plot(steps, [h["loss"] for h in history], color="C3")
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel("loss (weighted NLL)")
    axes[0].set_title("loss")
    ax_b = axes[1]
    ax_b.plot(steps, [h["beta"] for h in history], color="C0", label="beta")
    ax_b.set_xlabel("training step")
    ax_b.set_ylabel("beta", color="C0")
    ax_q = ax_b.twinx()
    ax_q.plot(steps, [h["quantization_error"] for h in history], color="C1", label="mean |h - sign(h)|")
    ax_q.set_ylabel("mean |h - sign(h)|", color="C1")
    ax_b.set_title("continuation: beta up, quantization error down")
    names = list(scores)
    values = np.array([scores[n] for n in names])
    bars = axes[2].bar(names, values, color=[METHOD_STYLE.get(n, {}).get("color", "C0") for n in names])
    for b, v in zip(bars, values):
        axes[2].text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.3f}", ha="center", fontsize=9)
    axes[2].set_ylim(0, 1.08)
    axes[2].set_ylabel("mAP")
    axes[2].set_title("retrieval mAP")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig

def metric_vs_bits(rows: list[dict], key: str, ylabel: str, title: str):
    """One line per method through its (``bits``, ``key``) rows (``map_vs_bits`` for any metric)."""
    missing = [r for r in rows if key not in r]
    if missing:
        raise ValueError(f"{len(missing)} rows lack {key!r} (e.g. {missing[0]})")
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["bits"], r[key]) for r in rows if r["method"] == m)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=m, **METHOD_STYLE.get(m, {}))
    ax.set_xticks(sorted({r["bits"] for r in rows}))
    finish_axes(ax, "code length (bits)", ylabel, title)
    return fig
