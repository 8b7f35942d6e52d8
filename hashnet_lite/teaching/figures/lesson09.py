"""The figures of lesson 09 (notebooks/09_your_own_data.ipynb), your own data: mAP against R under
both empty-query conventions.
"""
from __future__ import annotations

import matplotlib.pyplot as plt


def plot_map_by_r(topks, curves: dict, chosen=None, chosen_values: dict | None = None):
    """mAP@R against R, one line per empty-query convention (``curves``: name -> values at ``topks``),
    with the R ``chosen`` marked (its values ``chosen_values``: name -> value)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, (name, values) in enumerate(curves.items()):
        ax.plot(topks, values, marker="o", ms=3, color=f"C{i}", label=f"empty = {name!r}")
        if chosen is not None and chosen_values:
            value = chosen_values[name]
            ax.plot([chosen], [value], "o", color=f"C{i}", ms=8, mec="k")
            ax.annotate(f"{value:.3f}", (chosen, value), textcoords="offset points", xytext=(6, 6 - 14 * i), fontsize=8)
    if chosen is not None:
        ax.axvline(chosen, color="k", lw=0.6, ls=":")
    ax.set(xscale="log", xlabel="R (the top R results scored)", ylabel="mAP@R",
           title="the same codes under other R and conventions" + (f": R = {chosen}" if chosen else ""))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
