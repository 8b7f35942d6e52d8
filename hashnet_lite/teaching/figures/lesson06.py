"""The figures of lesson 06 (notebooks/06_reproduce_the_paper.ipynb), reproduce the paper: every
method's mAP at each code length.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from ...plots import METHOD_STYLE, bar_labels


def _draw_ablation(ax, rows, bits: int, title: str) -> None:
    from ..reproduction import map_table

    table = map_table(rows)
    names = [m for m in table if bits in table[m]]
    values = [table[m][bits] for m in names]
    colors = [METHOD_STYLE.get(m, {}).get("color", f"C{i}") for i, m in enumerate(names)]
    bar_labels(ax, ax.bar(range(len(names)), values, color=colors), values, fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_title(f"{title}, {bits} bits", fontsize=9)
    ax.grid(alpha=0.3, axis="y")


def plot_ablation_bars(results: dict, bits: int):
    """Every method's mAP at one code length, one panel per data set (``results``: name ->
    result rows as ``experiments.reproduce`` writes them)."""
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.6), sharey=True, squeeze=False)
    for ax, (name, rows) in zip(axes[0], results.items()):
        _draw_ablation(ax, rows, bits, name)
    axes[0, 0].set_ylabel("mAP@all")
    fig.tight_layout()
    return fig


def plot_ablation_panels(results: dict, bits=(16, 32, 48, 64)):
    """``plot_ablation_bars`` at every code length: one row per data set, one column per length
    (the static companion of ``widgets.results_explorer``)."""
    fig, axes = plt.subplots(len(results), len(bits), figsize=(3.4 * len(bits), 3.3 * len(results)),
                             sharey=True, squeeze=False)
    for i, (name, rows) in enumerate(results.items()):
        for j, b in enumerate(bits):
            _draw_ablation(axes[i, j], rows, b, name)
        axes[i, 0].set_ylabel("mAP@all")
    fig.tight_layout()
    return fig
