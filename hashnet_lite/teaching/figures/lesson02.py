"""The figures of lesson 02 (notebooks/02_ill_posed_gradient.ipynb), the ill-posed gradient: sign,
its surrogates and tanh(beta z).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_straight_through_bias(curves: dict):
    """The true gradient of E[(sign(z) - t)^2] against the straight-through estimator's
    expectation, over the mean mu of z (``curves`` from ``gradients.straight_through_bias``)."""
    mu, true, ste = curves["mu"], curves["true"], curves["straight_through"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(mu, true, color="k", lw=2, label="true gradient dF/dmu")
    ax.plot(mu, ste, color="C0", lw=2, ls="--", label="straight-through estimate (expected)")
    ax.axhline(0, color="0.5", lw=0.8)
    crossing = np.flatnonzero(np.diff(np.sign(ste)) != 0)
    for i in crossing[:1]:
        x0 = mu[i] - ste[i] * (mu[i + 1] - mu[i]) / (ste[i + 1] - ste[i])
        ax.axvline(x0, color="C0", lw=0.8, ls=":")
        ax.annotate(f"straight-through descent stops at mu = {x0:.2f}", (x0, 0), textcoords="offset points",
                    xytext=(8, 12), fontsize=8, color="C0")
    ax.set_xlabel("mu (mean of z = mu + sigma * eps)")
    ax.set_ylabel("gradient")
    ax.set_title(f"loss (sign(z) - {curves['target']:g})^2, sigma = {curves['sigma']:g}: "
                 "the best code is +1, i.e. mu as large as possible")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_estimator_comparison(rows: list[dict], title: str = "training through sign vs its surrogates"):
    """Loss curves and mAP (binary codes vs the continuous outputs) per estimator
    (``rows`` from ``gradients.compare_estimators``)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for i, r in enumerate(rows):
        losses = np.asarray(r["losses"], dtype=float)
        window = max(1, len(losses) // 30)  # a moving average: one step's loss is one batch's
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        axes[0].plot(np.arange(window, len(losses) + 1), smooth, color=f"C{i}", label=r["estimator"])
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel("training loss (weighted NLL, moving average)")
    axes[0].set_title("loss")
    axes[0].legend(fontsize=8)
    names = [r["estimator"] for r in rows]
    pos = np.arange(len(rows))
    binary = np.array([r["map_binary"] for r in rows])
    cont = np.array([r["map_continuous"] for r in rows], dtype=float)
    ax = axes[1]
    b1 = ax.bar(pos - 0.2, binary, width=0.4, color="C3", label="binary codes sign(z)")
    b2 = ax.bar(pos + 0.2, np.nan_to_num(cont), width=0.4, color="C0", alpha=0.6, label="continuous outputs")
    for bars, values in ((b1, binary), (b2, cont)):
        for b, v in zip(bars, values):
            if np.isfinite(v):
                ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.3f}", ha="center", fontsize=8)
    ax.axhline(rows[0]["map_untrained"], color="k", ls=":", lw=1, label="untrained network (binary)")
    ax.set_xticks(pos)
    ax.set_xticklabels(names)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("mAP")
    ax.set_title("retrieval mAP")
    ax.legend(fontsize=8, loc="upper left")
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_tanh_gradient(beta: float, z=None, points=(0.25, 0.5, 1.0), xlim: float = 2.0):
    """tanh(beta x) against sign(x), and its derivative beta (1 - tanh^2(beta x)) against the
    straight-through estimator's and sign's; with ``z`` (values of the pre-activations), their
    histogram, their quantization error at this beta and the fraction of them whose gradient
    has vanished (< 1% of the peak)."""
    from ..gradients import tanh_grad, vanishing_fraction

    x = np.linspace(-xlim, xlim, 801)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    ax.plot(x, np.where(x >= 0, 1.0, -1.0), color="k", lw=1.5, label="sign(x)")
    ax.plot(x, np.tanh(beta * x), color="C3", lw=2, label=f"tanh({beta:g} x)")
    ax.set_xlabel("x (pre-activation z)")
    ax.set_ylabel("output")
    ax.set_ylim(-1.15, 1.15)
    ax.set_title("forward: the code")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[1]
    grad = tanh_grad(x, beta)
    ax.plot(x, grad, color="C3", lw=2, label=f"d/dx tanh({beta:g} x)")
    ax.plot(x, (np.abs(x) <= 1).astype(float), color="C0", ls="--", label="straight-through: 1 where |x| <= 1")
    ax.plot(x, np.zeros_like(x), color="k", ls=":", label="d/dx sign(x) = 0 (x != 0)")
    values = tanh_grad(np.asarray(points, dtype=float), beta)
    ax.plot(points, values, "o", color="C3", ms=5,
            label="at " + ", ".join(f"x={p:g}: {v:.2g}" for p, v in zip(points, values)))
    ax.set_ylim(-0.05 * max(beta, 1.0), 1.15 * max(beta, 1.0))
    ax.set_xlabel("x (pre-activation z)")
    ax.set_ylabel("derivative")
    ax.set_title("backward: what the gradient sees")
    title = f"beta = {beta:g}"
    if z is not None:
        zz = np.asarray(z, dtype=np.float64).ravel()
        twin = ax.twinx()
        twin.hist(np.clip(zz, -xlim, xlim), bins=80, range=(-xlim, xlim), color="0.6", alpha=0.35)
        twin.set_ylabel("count of z", color="0.4")
        gap = np.abs(np.tanh(beta * zz) - np.where(zz >= 0, 1.0, -1.0)).mean()
        title += (f"\n{zz.size:,} values z: mean |tanh(beta z) - sign(z)| = {gap:.2f}; the gradient has vanished "
                  f"(< 1% of its peak) for {100 * vanishing_fraction(zz, beta):.0f}% of them")
    ax.legend(loc="upper left", fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_tanh_gradient_panels(z, betas=(1.0, 3.0, 8.0), xlim: float = 2.0):
    """d/dz tanh(beta z) at a few beta over the histogram of the pre-activations ``z``, each
    titled with the quantization gap and the share of z whose gradient has vanished (the static
    companion of ``widgets.beta_explorer``)."""
    from ..gradients import tanh_grad, vanishing_fraction

    zz = np.asarray(z, dtype=np.float64).ravel()
    x = np.linspace(-xlim, xlim, 801)
    fig, axes = plt.subplots(1, len(betas), figsize=(4.2 * len(betas), 3.3))
    for ax, beta in zip(np.atleast_1d(axes), betas):
        twin = ax.twinx()
        twin.hist(np.clip(zz, -xlim, xlim), bins=60, range=(-xlim, xlim), color="0.6", alpha=0.35)
        twin.set_yticks([])
        ax.plot(x, tanh_grad(x, beta), color="C3", lw=2)
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        gap = np.abs(np.tanh(beta * zz) - np.where(zz >= 0, 1.0, -1.0)).mean()
        ax.set_title(f"beta = {beta:g}: gap {gap:.2f},\ngradient vanished for {100 * vanishing_fraction(zz, beta):.0f}% of z",
                     fontsize=9)
        ax.set_xlabel("z (grey: the trained network's z)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("d/dz tanh(beta z)")
    fig.tight_layout()
    return fig
