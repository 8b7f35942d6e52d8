"""The figures of lesson 08 (notebooks/08_hashnet_from_scratch.ipynb), HashNet from scratch: a
trained network's outputs as beta grows.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_output_histograms(z, betas=(1.0, 3.5, 10.0)):
    """The histogram of h = tanh(beta z) for a few beta, one panel each, titled with the quantization
    error mean |tanh(beta z) - sign(z)|: how one trained network's z turn into codes as beta grows."""
    zz = np.asarray(z, dtype=np.float64).ravel()
    fig, axes = plt.subplots(1, len(betas), figsize=(4.2 * len(betas), 3.0), sharey=True, squeeze=False)
    for ax, beta in zip(axes[0], betas):
        h = np.tanh(beta * zz)
        ax.hist(h, bins=50, range=(-1, 1), color="C0")
        ax.set(xlabel=f"h = tanh({beta:g} z)",
               title=f"beta = {beta:g}: quantization error {np.abs(h - np.where(zz >= 0, 1.0, -1.0)).mean():.3f}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("outputs")
    fig.tight_layout()
    return fig
