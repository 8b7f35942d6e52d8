"""The figures of lesson 00 (notebooks/00_start_here.ipynb), the start page: HashNet in one
picture.
"""
from __future__ import annotations

import matplotlib.pyplot as plt


def plot_model_diagram():
    """HashNet in one picture: image -> backbone -> hash layer z -> tanh(beta z) in training
    (the pairwise likelihood over a batch's pairs), sign(z) at test time (Hamming ranking)."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(11, 4.2))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 4.2)
    ax.axis("off")

    def box(x, y, w, h, text, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05,rounding_size=0.12", fc=color,
                                    ec="0.3", lw=1.2))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)

    def arrow(x0, y0, x1, y1, text=None, dy=0.12):
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, lw=1.3, color="0.25"))
        if text:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + dy, text, ha="center", va="bottom", fontsize=8, color="0.25")

    box(0.1, 1.6, 1.1, 1.0, "image x", "#f0f0f0")
    box(1.6, 1.6, 1.6, 1.0, "backbone\n(CNN, AlexNet...)\nfeatures f(x)", "#dbe9f6")
    box(3.6, 1.6, 1.5, 1.0, "hash layer\nz = W f(x) + b\n(K numbers)", "#dbe9f6")
    arrow(1.2, 2.1, 1.6, 2.1)
    arrow(3.2, 2.1, 3.6, 2.1)
    box(5.8, 2.9, 1.9, 1.0, "h = tanh(beta z)\nbeta raised by the\nschedule (03)", "#fde0c5")
    box(8.3, 2.9, 2.6, 1.0, "pairwise likelihood (04)\np(s_ij = 1) = sigmoid(alpha <h_i, h_j>)\nweighted: |S|/|S1|, |S|/|S0|",
        "#fde0c5")
    box(5.8, 0.3, 1.9, 1.0, "b = sign(z)\nK bits, +-1", "#d5efd5")
    box(8.3, 0.3, 2.6, 1.0, "Hamming ranking (01, 05)\nd = (K - <b_q, b>) / 2\nmAP@R", "#d5efd5")
    arrow(5.1, 2.3, 5.8, 3.3, "training", dy=0.05)
    arrow(5.1, 1.9, 5.8, 0.9, "test", dy=-0.35)
    arrow(7.7, 3.4, 8.3, 3.4)
    arrow(7.7, 0.8, 8.3, 0.8)
    ax.text(9.6, 2.45, "gradients flow back through tanh (02)", ha="center", fontsize=8, color="C3")
    ax.add_patch(FancyArrowPatch((8.3, 3.0), (5.0, 2.65), arrowstyle="-|>", mutation_scale=12, lw=1.0, color="C3",
                                 ls="--", connectionstyle="arc3,rad=0.15"))
    ax.set_title("HashNet: trained through tanh(beta z), deployed as sign(z)", fontsize=11)
    fig.tight_layout()
    return fig
