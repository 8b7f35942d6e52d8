"""The figures of lesson 04 (notebooks/04_weighted_likelihood.ipynb), the weighted likelihood:
p(s_ij | h_i, h_j), the pairs' imbalance and what the weights change.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...checks import check
from ...plots import METHOD_STYLE, finish_axes
from .. import claims


def plot_similarity_probability(bits: int, alpha_times_bits: float = 10.0):
    """p(s_ij = 1) = sigmoid(alpha <h_i, h_j>) against the inner product, for K = ``bits``
    (paper Sec. 3.2): the adaptive alpha = ``alpha_times_bits`` / K (the authors' 10 / K) next to
    alpha = 1; right, the gradient of -log p with respect to <h_i, h_j> for a similar pair
    (alpha (sigmoid - 1)) and a dissimilar one (alpha sigmoid)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
        raise ValueError(f"bits={bits!r} is invalid: expected an integer >= 1")
    if not alpha_times_bits > 0:
        raise ValueError(f"alpha_times_bits={alpha_times_bits!r} is invalid: expected a positive number")
    inner = np.linspace(-bits, bits, 401)  # <h_i, h_j> ranges over [-K, K]
    alphas = {f"alpha = {alpha_times_bits:g} / K = {alpha_times_bits / bits:.3g}": alpha_times_bits / bits,
              "alpha = 1": 1.0}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for (name, a), color in zip(alphas.items(), ("C3", "C7")):
        p = 1.0 / (1.0 + np.exp(-a * inner))
        axes[0].plot(inner, p, color=color, label=name)
        axes[1].plot(inner, np.abs(a * (p - 1.0)), color=color, label=f"similar pair, {name}")
        axes[1].plot(inner, a * p, color=color, linestyle="--", label=f"dissimilar pair, {name}")
    axes[0].set_xlabel("inner product <h_i, h_j>")
    axes[0].set_ylabel("p(s_ij = 1 | h_i, h_j)")
    axes[0].set_title(f"probability of similarity, K = {bits} bits")
    top = axes[0].secondary_xaxis("top", functions=(lambda x: (bits - x) / 2, lambda d: bits - 2 * d))
    top.set_xlabel("Hamming distance (K - <h_i, h_j>) / 2 for binary codes")
    axes[1].set_xlabel("inner product <h_i, h_j>")
    axes[1].set_ylabel("|d(-log p) / d<h_i, h_j>|")
    axes[1].set_title("gradient of the pair's loss")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_similarity_probability_panels(bits=(8, 32, 128), alpha_times_bits: float = 10.0):
    """p(s_ij = 1) against the share of differing bits for a few code lengths K, with the
    adaptive alpha = ``alpha_times_bits`` / K and with alpha = 1 (the static companion of
    ``widgets.alpha_explorer``): the adaptive curve keeps its shape, alpha = 1 turns into a step."""
    fig, axes = plt.subplots(1, len(bits), figsize=(4.0 * len(bits), 3.2), sharey=True)
    for ax, k in zip(np.atleast_1d(axes), bits):
        d = np.linspace(0, 1, 201)  # share of differing bits
        inner = k * (1 - 2 * d)  # <h_i, h_j> of binary codes
        for a, color, label in ((alpha_times_bits / k, "C3", f"alpha = {alpha_times_bits:g} / K"), (1.0, "C7", "alpha = 1")):
            ax.plot(d, 1 / (1 + np.exp(-a * inner)), color=color, label=label)
        ax.set_title(f"K = {k} bits", fontsize=9)
        ax.set_xlabel("share of differing bits d / K")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("p(similar)")
    fig.tight_layout()
    return fig


def plot_pair_imbalance(rows: list[dict], title: str = "similar pairs in a batch"):
    """``rows``: dicts with ``num_classes``, ``similar_share``, ``w_similar``, ``w_dissimilar``
    (``imbalance.batch_pair_statistics`` plus the class count). Left: the share of similar
    pairs against the number of classes, with 1 / C; right: Eq. 5's weights."""
    rows = sorted(rows, key=lambda r: r["num_classes"])
    c = np.array([r["num_classes"] for r in rows], dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    axes[0].plot(c, [r["similar_share"] for r in rows], "o-", color="C3", label="measured |S1| / |S|")
    grid = np.geomspace(c.min(), c.max(), 100)
    axes[0].plot(grid, 1 / grid, color="k", linestyle=":", label="1 / C")
    axes[0].set_ylabel("share of similar pairs")
    axes[0].set_title(title)
    axes[1].plot(c, [r["w_similar"] for r in rows], "o-", color="C3", label="w similar = |S| / |S1|")
    axes[1].plot(c, [r["w_dissimilar"] for r in rows], "s-", color="C0", label="w dissimilar = |S| / |S0|")
    axes[1].set_ylabel("weight per pair (Eq. 5)")
    axes[1].set_title("the weights that rebalance them")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of classes C")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_distance_histograms(codes: dict, query_labels, database_labels,
                             title: str = "Hamming distances from the queries"):
    """For each method (``codes``: name -> (query codes, database codes)), the distribution
    of Hamming distances to relevant and to irrelevant database items (normalised counts)."""
    from ...checks import label_rows
    from ...retrieval import hamming_distance

    ql, dl = label_rows(query_labels, "query_labels"), label_rows(database_labels, "database_labels")
    width = max(ql.shape[1], dl.shape[1])
    ql, dl = (np.pad(a, ((0, 0), (0, width - a.shape[1]))).astype(np.int64) for a in (ql, dl))
    relevant = (ql @ dl.T) > 0  # (Q, N)
    import seaborn as sns  # the statistical figures of the lessons; only the teaching layer uses it

    fig, axes = plt.subplots(1, len(codes), figsize=(5 * len(codes), 3.6), squeeze=False)
    for ax, (name, (q, d)) in zip(axes[0], codes.items()):
        dist = hamming_distance(q, d)  # (Q, N)
        bits = np.asarray(q).shape[1]
        kinds = ("relevant (same class)", "irrelevant")
        values = np.concatenate([dist[relevant], dist[~relevant]])
        kind = np.repeat(kinds, [int(relevant.sum()), int((~relevant).sum())])
        # each group normalised on its own (common_norm=False): the shapes compare, not the counts
        sns.histplot(x=values, hue=kind, hue_order=kinds, stat="density", common_norm=False, discrete=True,
                     binrange=(0, bits), palette={kinds[0]: "C2", kinds[1]: "C3"}, alpha=0.5, ax=ax)
        ax.set_xlabel(f"Hamming distance ({bits} bits)")
        ax.set_ylabel("share of pairs")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_map_vs_classes(rows: list[dict], title: str = "mAP vs number of classes", key: str = "map",
                        ylabel: str = "mAP"):
    """One line per method through its (``num_classes``, ``key``) rows."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["num_classes"], r[key]) for r in rows if r["method"] == m)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=m, **METHOD_STYLE.get(m, {}))
    classes = sorted({r["num_classes"] for r in rows})
    ax.set_xscale("log")
    ax.set_xticks(classes)
    ax.set_xticklabels([str(c) for c in classes])
    ax.minorticks_off()
    finish_axes(ax, "number of classes C (share of similar pairs ~ 1 / C)", ylabel, title)
    return fig


def plot_weight_gaps(*records, title: str | None = None):
    """HashNet minus HashNet-W (mAP points), one panel per record of the "weights" study
    (against the number of classes) or the "overlap" study (against the clusters' spread):
    every seed a dot, the mean over the seeds a line."""
    check(records and all(r.get("study") in ("weights", "overlap") for r in records), "records",
          [r.get("study") for r in records], "records of the 'weights' or 'overlap' study")
    fig, axes = plt.subplots(1, len(records), figsize=(4.6 * len(records), 3.4), sharey=True, squeeze=False)
    for ax, record in zip(axes[0], records):
        x_key, label = (("num_classes", "number of classes") if record["study"] == "weights"
                        else ("spread", "spread of the 10 clusters (smaller: harder)"))
        pts = [(g[x_key], g["gap"]) for g in claims.weight_gaps(record["rows"])]
        xs = sorted({p[0] for p in pts})
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="C1", s=16, label="one seed")
        ax.plot(xs, [np.mean([p[1] for p in pts if p[0] == x]) for x in xs], color="C3", marker="o", label="mean")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel(label)
        if x_key == "spread":
            ax.invert_xaxis()
        ax.set_title(f"{record['settings']['iters']} steps, seeds {list(record['settings']['seeds'])}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("HashNet minus HashNet-W\n(mAP points)")
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
