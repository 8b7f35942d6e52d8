"""The figures of lesson 01 (notebooks/01_hamming_space.ipynb), Hamming space: what codes cost,
what a search returns, how AP@R scores it. Lesson 05 shows the gallery and the precision at k
again, for HashNet's codes.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...plots import METHOD_STYLE, finish_axes


def plot_search_cost(result: dict, title: str | None = None):
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


GALLERY_COLORS = {"query": (0.12, 0.47, 0.71), "right": (0.17, 0.63, 0.17), "wrong": (0.84, 0.15, 0.16)}


def plot_retrieval_gallery(query_images, result_images, relevant, distances, *, query_titles=None,
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


def plot_query_gallery(data, query_codes, database_codes, queries, k: int = 10, *, class_names=None,
                       title: str = "retrieval by Hamming distance"):
    """The gallery of ``queries`` (an index or a list of indices into the query set) of a
    ``RetrievalData``: ``gallery.top_matches`` ranks, ``gallery.display_images`` draws."""
    from ...checks import class_ids
    from ..neighbours import display_images, top_matches

    queries = [queries] if isinstance(queries, (int, np.integer)) else list(queries)
    matches = [top_matches(query_codes, database_codes, data.y_query, data.y_database, q, k) for q in queries]
    q_classes = class_ids(data.y_query)

    def name(c):
        return str(class_names[c]) if class_names is not None and c >= 0 else f"class {c}"

    titles = [f"#{q}: {name(q_classes[q])}\nP@{k}={m.precision:.2f}" for q, m in zip(queries, matches)]
    results = np.stack([display_images(data.database, m.indices) for m in matches])
    return plot_retrieval_gallery(display_images(data.query, queries), results,
                                  np.stack([m.relevant for m in matches]), np.stack([m.distances for m in matches]),
                                  query_titles=titles, title=title)


def plot_precision_at_k(ks, curves: dict, title: str = "precision at k"):
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


def _draw_ap(ax, relevant, topk: int) -> float:
    """Precision at every rank of one ranked list; the ranks AP@topk averages are filled."""
    from ..map_by_hand import ap_table

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


def plot_ap_at_r(relevant, topk: int):
    """AP@topk of one ranked 0/1 list, worked: the precision at every rank, the ranks that
    count (relevant and within the top R) in green, the cut at R in red."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    _draw_ap(ax, relevant, topk)
    ax.set_ylabel("precision at rank k")
    fig.tight_layout()
    return fig


def plot_ap_at_r_panels(relevant, topks=(2, 5, 8)):
    """``plot_ap_at_r`` at a few R side by side (the static companion of ``widgets.ap_explorer``)."""
    fig, axes = plt.subplots(1, len(topks), figsize=(4.2 * len(topks), 3.3), sharey=True)
    for ax, k in zip(np.atleast_1d(axes), topks):
        _draw_ap(ax, relevant, k)
    np.atleast_1d(axes)[0].set_ylabel("precision at rank k")
    fig.tight_layout()
    return fig
