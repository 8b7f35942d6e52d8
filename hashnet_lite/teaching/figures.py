"""The lessons' figures: one function per picture a notebook shows.

Every function returns a matplotlib Figure and never shows it; the sliders in ``widgets``
redraw them, and the tests call them directly (ipywidgets swallows exceptions raised in a
slider's callback).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..plots import METHOD_STYLE, bar_labels, finish_axes

# ------------------------------------------------------------ notebooks 04-06: likelihood,
# imbalance, retrieval gallery, precision curves, code maps

def similarity_probability(bits: int, alpha_times_bits: float = 10.0):
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


def pair_imbalance(rows: list[dict], title: str = "similar pairs in a batch"):
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


def map_vs_classes(rows: list[dict], title: str = "mAP vs number of classes", key: str = "map",
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


def distance_histograms(codes: dict, query_labels, database_labels,
                        title: str = "Hamming distances from the queries"):
    """For each method (``codes``: name -> (query codes, database codes)), the distribution
    of Hamming distances to relevant and to irrelevant database items (normalised counts)."""
    from ..checks import label_rows
    from ..retrieval import hamming_distance

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


GALLERY_COLORS = {"query": (0.12, 0.47, 0.71), "right": (0.17, 0.63, 0.17), "wrong": (0.84, 0.15, 0.16)}


def retrieval_gallery(query_images, result_images, relevant, distances, *, query_titles=None,
                      title: str = "retrieval by Hamming distance"):
    """Rows of [query | its top k]: ``query_images`` (n, H, W[, 3]), ``result_images``
    (n, k, H, W[, 3]), ``relevant`` and ``distances`` (n, k). The query has a blue frame,
    relevant results a green one, wrong ones a red frame and a cross; each result is
    labelled with its Hamming distance, each row with ``query_titles``.

    One mosaic image in one Axes (``GALLERY_COLORS`` frames): a hundred separate Axes took
    ~10 s to lay out and draw on a busy 2-core machine."""
    query_images, result_images = np.asarray(query_images, dtype=float), np.asarray(result_images, dtype=float)
    relevant, distances = np.asarray(relevant, dtype=bool), np.asarray(distances)
    n, k = relevant.shape if relevant.ndim == 2 else (0, 0)
    if (relevant.ndim != 2 or distances.shape != (n, k) or len(query_images) != n
            or result_images.shape[:2] != (n, k) or result_images.shape[2:] != query_images.shape[1:]
            or query_images.ndim not in (3, 4)):
        raise ValueError(f"shapes disagree: query_images {query_images.shape}, result_images {result_images.shape}, "
                         f"relevant {relevant.shape}, distances {distances.shape}; expected (n, H, W[, 3]), "
                         "(n, k, H, W[, 3]), (n, k), (n, k)")
    if n == 0 or k == 0:
        raise ValueError("nothing to show: expected at least one query and one result")
    if query_titles is not None and len(query_titles) != n:
        raise ValueError(f"query_titles has {len(query_titles)} entries: expected one per query ({n})")

    def rgb(img):  # grey images as dark ink on white, like the paper's figures
        return np.repeat(1.0 - img[..., None], 3, axis=-1) if img.ndim == 2 else img

    h, w = query_images.shape[1:3]
    pad = max(1, round(h / 10))  # frame width
    th, tw = h + 2 * pad, w + 2 * pad  # a framed tile
    band, gap, split = round(0.45 * th), max(1, round(w / 8)), round(0.4 * tw)  # text band, gaps
    canvas = np.ones((n * (th + band), (k + 1) * (tw + gap) + split, 3))
    fig, ax = plt.subplots(figsize=(0.72 * (k + 1) + 1.6, 0.95 * n + 0.7))
    boxes = []  # (x0, y0, relevant or None for the query)
    for i in range(n):
        y0 = i * (th + band) + band
        for j in range(k + 1):
            x0 = j * (tw + gap) + (split if j else 0)
            ok = None if j == 0 else bool(relevant[i, j - 1])
            img = query_images[i] if j == 0 else result_images[i, j - 1]
            colour = GALLERY_COLORS["query" if ok is None else "right" if ok else "wrong"]
            canvas[y0:y0 + th, x0:x0 + tw] = colour
            canvas[y0 + pad:y0 + pad + h, x0 + pad:x0 + pad + w] = rgb(np.clip(img, 0, 1))
            boxes.append((x0, y0, ok))
    ax.imshow(canvas, interpolation="nearest")
    for (x0, y0, ok), (i, j) in zip(boxes, np.ndindex(n, k + 1)):
        if ok is None:
            ax.text(x0 + tw / 2, y0 - 0.5, "query", ha="center", va="bottom", fontsize=7, color=GALLERY_COLORS["query"])
            continue
        ax.text(x0 + tw / 2, y0 - 0.5, f"d={int(distances[i, j - 1])}", ha="center", va="bottom", fontsize=7,
                color="k" if ok else GALLERY_COLORS["wrong"])
        if not ok:  # a cross over the wrong result
            ax.plot([x0, x0 + tw - 1], [y0, y0 + th - 1], color=GALLERY_COLORS["wrong"], linewidth=1.2)
            ax.plot([x0, x0 + tw - 1], [y0 + th - 1, y0], color=GALLERY_COLORS["wrong"], linewidth=1.2)
    ax.set_xticks([])
    ax.set_yticks([i * (th + band) + band + th / 2 for i in range(n)])
    ax.set_yticklabels(query_titles if query_titles is not None else [f"query {i}" for i in range(n)], fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title + "\n(green: same class as the query; red with a cross: wrong)", fontsize=10)
    fig.tight_layout()
    return fig


def query_gallery(data, query_codes, database_codes, queries, k: int = 10, *, class_names=None,
                  title: str = "retrieval by Hamming distance"):
    """The gallery of ``queries`` (an index or a list of indices into the query set) of a
    ``RetrievalData``: ``gallery.top_matches`` ranks, ``gallery.display_images`` draws."""
    from ..checks import class_ids
    from .neighbours import display_images, top_matches

    queries = [queries] if isinstance(queries, (int, np.integer)) else list(queries)
    matches = [top_matches(query_codes, database_codes, data.y_query, data.y_database, q, k) for q in queries]
    q_classes = class_ids(data.y_query)

    def name(c):
        return str(class_names[c]) if class_names is not None and c >= 0 else f"class {c}"

    titles = [f"#{q}: {name(q_classes[q])}\nP@{k}={m.precision:.2f}" for q, m in zip(queries, matches)]
    results = np.stack([display_images(data.database, m.indices) for m in matches])
    return retrieval_gallery(display_images(data.query, queries), results,
                             np.stack([m.relevant for m in matches]), np.stack([m.distances for m in matches]),
                             query_titles=titles, title=title)


def precision_at_k_curves(ks, curves: dict, title: str = "precision at k"):
    """``curves``: method -> precision at each k of ``ks`` (``retrieval.precision_at_k``)."""
    ks = np.asarray(ks)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for m, values in curves.items():
        values = np.asarray(values, dtype=float)
        if values.shape != ks.shape:
            raise ValueError(f"curves[{m!r}] has shape {values.shape}; expected one value per k {ks.shape}")
        style = dict(METHOD_STYLE.get(m, {}))
        style["markersize"] = 3
        ax.plot(ks, values, label=m, **style)
    finish_axes(ax, "number of retrieved items k", "precision@k", title)
    return fig


def code_embedding(xy, labels, *, class_names=None, title: str = "UMAP of the codes (Hamming distance)"):
    """A scatter of 2-D points ``xy`` (N, 2) coloured by class (``gallery.class_ids`` of ``labels``)."""
    from ..checks import class_ids

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


# ---------------------------------------------------------------- notebooks 01-03 (teaching)

def search_cost(result: dict, title: str | None = None):
    """Bytes per item and milliseconds per query of float vectors vs packed codes
    (``result`` from ``search_cost.measure_search_cost``), log scale."""
    names = [f"float32 x {result['dim']}", f"{result['bits']}-bit code"]
    per_item = [result["bytes_float"] / result["n_database"], result["bytes_binary"] / result["n_database"]]
    per_query = [1e3 * result["seconds_float"] / result["n_queries"],
                 1e3 * result["seconds_binary"] / result["n_queries"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    panels = ((axes[0], per_item, "bytes per item", f"storage: {result['storage_ratio']:,.0f}x smaller"),
              (axes[1], per_query, "ms per query", f"exhaustive top-{result['k']}: {result['speedup']:,.1f}x faster"))
    for ax, values, label, what in panels:
        bars = ax.bar(names, values, color=["C0", "C3"])
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.set_title(what)
        for b, v in zip(bars, values):
            ax.text(b.get_x() + b.get_width() / 2, v, f"{v:,.0f}" if v >= 100 else f"{v:.3g}",
                    ha="center", va="bottom", fontsize=9)
        ax.set_ylim(min(values) / 3, max(values) * 5)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title or f"{result['n_database']:,} database items, {result['n_queries']:,} queries "
                          f"(Hamming search: {result['backend']})")
    fig.tight_layout()
    return fig


def tanh_gradient(beta: float, z=None, points=(0.25, 0.5, 1.0), xlim: float = 2.0):
    """tanh(beta x) against sign(x), and its derivative beta (1 - tanh^2(beta x)) against the
    straight-through estimator's and sign's; with ``z`` (values of the pre-activations), their
    histogram, their quantization error at this beta and the fraction of them whose gradient
    has vanished (< 1% of the peak)."""
    from .gradients import tanh_grad, vanishing_fraction

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


def straight_through_bias(curves: dict):
    """The true gradient of E[(sign(z) - t)^2] against the straight-through estimator's
    expectation, over the mean mu of z (``curves`` from ``estimators.straight_through_bias``)."""
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


def estimator_comparison(rows: list[dict], title: str = "training through sign vs its surrogates"):
    """Loss curves and mAP (binary codes vs the continuous outputs) per estimator
    (``rows`` from ``estimators.compare_estimators``)."""
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


def beta_schedules(iters: int, *, beta0: float = 1.0, gamma: float = 0.005, power: float = 0.5,
                   step_size: int = 200, steps_per_epoch: int = 78, epoch_step: int = 20):
    """beta over training: the authors' formula beta0 (1 + gamma t)^power, their staircase
    (recomputed every ``step_size`` steps) and the per-epoch staircase (epoch // epoch_step + 1)^0.5."""
    from ..continuation import authors_beta, staircase_beta

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


def beta_schedule_panels(iters: int, *, beta0: float = 1.0, gamma: float = 0.005, power: float = 0.5,
                         step_size: int = 200):
    """The static companion of ``widgets.schedule_explorer``: the authors' schedule with one slider
    moved at a time, three settings per panel (gamma, power, step size); the setting given is the
    middle one of each panel."""
    from ..continuation import authors_beta

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


def output_histograms(z, betas=(1.0, 3.5, 10.0)):
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


def map_by_r(topks, curves: dict, chosen=None, chosen_values: dict | None = None):
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


def binarization_snapshot(run, step: int, n_items: int = 10):
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


def continuation_curves(runs, title: str = "with and without continuation"):
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


# ------------------------------------------------------------ static companions of the sliders
# Each slider of ``widgets`` has a static figure here that shows a few of its settings side by
# side (small multiples), so that a lesson reads right where no kernel runs the slider.

def _draw_ap(ax, relevant, topk: int) -> float:
    """Precision at every rank of one ranked list; the ranks AP@topk averages are filled."""
    from .map_by_hand import ap_table

    rel = np.asarray(relevant, dtype=int)
    table = ap_table(rel, topk=topk)
    ranks = np.arange(1, len(rel) + 1)
    precision = np.cumsum(rel) / ranks
    counted = (rel == 1) & (ranks <= topk)
    ax.bar(ranks, precision, color=np.where(counted, "C2", "0.85"), edgecolor=np.where(rel == 1, "C2", "0.6"))
    for r, p, c in zip(ranks, precision, counted):
        ax.text(r, p + 0.02, f"{p:.2f}", ha="center", fontsize=7, color="k" if c else "0.5")
    ax.axvline(topk + 0.5, color="C3", ls="--", lw=1)
    ax.set_xticks(ranks)
    ax.set_xticklabels([f"{r}\n{'R' if x else 'I'}" for r, x in zip(ranks, rel)], fontsize=7)
    ax.set_ylim(0, 1.15)
    ax.set_xlabel("rank (R: relevant, I: irrelevant)")
    ax.set_title(f"R = {topk}: AP@R = {table['ap']:.3f}\n(mean of the {table['n_relevant']} green bars)", fontsize=9)
    return table["ap"]


def ap_at_r(relevant, topk: int):
    """AP@topk of one ranked 0/1 list, worked: the precision at every rank, the ranks that
    count (relevant and within the top R) in green, the cut at R in red."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    _draw_ap(ax, relevant, topk)
    ax.set_ylabel("precision at rank k")
    fig.tight_layout()
    return fig


def ap_at_r_panels(relevant, topks=(2, 5, 8)):
    """``ap_at_r`` at a few R side by side (the static companion of ``widgets.ap_explorer``)."""
    fig, axes = plt.subplots(1, len(topks), figsize=(4.2 * len(topks), 3.3), sharey=True)
    for ax, k in zip(np.atleast_1d(axes), topks):
        _draw_ap(ax, relevant, k)
    np.atleast_1d(axes)[0].set_ylabel("precision at rank k")
    fig.tight_layout()
    return fig


def tanh_gradient_panels(z, betas=(1.0, 3.0, 8.0), xlim: float = 2.0):
    """d/dz tanh(beta z) at a few beta over the histogram of the pre-activations ``z``, each
    titled with the quantization gap and the share of z whose gradient has vanished (the static
    companion of ``widgets.beta_explorer``)."""
    from .gradients import tanh_grad, vanishing_fraction

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


def binarization_steps(run, steps=None, n_items: int = 10):
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


def similarity_probability_panels(bits=(8, 32, 128), alpha_times_bits: float = 10.0):
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


def _draw_ablation(ax, rows, bits: int, title: str) -> None:
    from .reproduction import map_table

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


def ablation_bars(results: dict, bits: int):
    """Every method's mAP at one code length, one panel per data set (``results``: name ->
    result rows as ``experiments.reproduce`` writes them)."""
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.6), sharey=True, squeeze=False)
    for ax, (name, rows) in zip(axes[0], results.items()):
        _draw_ablation(ax, rows, bits, name)
    axes[0, 0].set_ylabel("mAP@all")
    fig.tight_layout()
    return fig


def ablation_panels(results: dict, bits=(16, 32, 48, 64)):
    """``ablation_bars`` at every code length: one row per data set, one column per length
    (the static companion of ``widgets.results_explorer``)."""
    fig, axes = plt.subplots(len(results), len(bits), figsize=(3.4 * len(bits), 3.3 * len(results)),
                             sharey=True, squeeze=False)
    for i, (name, rows) in enumerate(results.items()):
        for j, b in enumerate(bits):
            _draw_ablation(axes[i, j], rows, b, name)
        axes[i, 0].set_ylabel("mAP@all")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ the start page
def model_diagram():
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


def training_steps(log, title: str = "training, step by step"):
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


def radius_precision(curves: dict, title: str = "precision within Hamming radius r"):
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
