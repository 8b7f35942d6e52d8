"""hashnet_lite.teaching.figures, one module per lesson: every lesson figure draws what it is
given (the figures the sliders redraw are tested with their widgets in test_widgets.py)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import image_data, random_codes, small_config

from hashnet_lite.checks import class_ids
from hashnet_lite.teaching import gradients, neighbours, search_cost, snapshots
from hashnet_lite.teaching.figures import lesson01, lesson02, lesson03, lesson04, lesson05


# ------------------------------------------------------------------------------ notebook 01
def test_search_cost_figure():
    r = search_cost.measure_search_cost(n_database=200, n_queries=4, dim=16, bits=8, k=3, repeats=1)
    fig = lesson01.plot_search_cost(r)
    left, right = fig.axes[:2]
    heights = [p.get_height() for p in left.patches]
    assert heights == pytest.approx([4 * 16, 1])
    assert "64x smaller" in left.get_title()


# ------------------------------------------------------------------------------ notebooks 02-03
def test_straight_through_bias_figure_marks_where_the_estimator_stops():
    curves = gradients.straight_through_bias(np.linspace(-1, 2, 301))
    fig = lesson02.plot_straight_through_bias(curves)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), curves["straight_through"])
    texts = [t.get_text() for t in ax.texts]
    assert any("stops at mu" in t for t in texts)


def test_estimator_comparison_figure(clusters):
    rows = gradients.compare_estimators(clusters, small_config(iters=10), ("sign", "continuation"))
    fig = lesson02.plot_estimator_comparison(rows)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), rows[0]["losses"])  # 10 steps: no smoothing
    bars = fig.axes[1].patches
    assert [round(b.get_height(), 6) for b in bars[:2]] == [round(r["map_binary"], 6) for r in rows]
    assert bars[2].get_height() == 0.0  # "sign" has no continuous output


def test_continuation_curves_figure(clusters):
    run = snapshots.train_with_snapshots(clusters, small_config(iters=10), every=5)
    fig = lesson03.plot_continuation_curves({"HashNet": run})
    steps, q = run.series("quantization_error")
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), q)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), steps)


# ------------------------------------------------------------------------------ notebook 04
def test_similarity_probability_curves():
    fig = lesson04.plot_similarity_probability(16, alpha_times_bits=10.0)
    adaptive, plain = fig.axes[0].lines[:2]
    x, p = adaptive.get_xdata(), adaptive.get_ydata()
    assert x[0] == -16 and x[-1] == 16
    assert p[200] == pytest.approx(0.5)  # <h_i, h_j> = 0: even odds
    assert p[-1] == pytest.approx(1 / (1 + np.exp(-10.0)))  # alpha K = 10 at identical codes
    assert plain.get_ydata()[-1] == pytest.approx(1 / (1 + np.exp(-16.0)))
    grad_similar = fig.axes[1].lines[0].get_ydata()  # alpha (1 - sigmoid): largest for opposite codes
    assert grad_similar[0] == pytest.approx(10 / 16 * (1 - 1 / (1 + np.exp(10.0))))
    for bad in (dict(bits=0), dict(bits=8, alpha_times_bits=0.0)):
        with pytest.raises(ValueError):
            lesson04.plot_similarity_probability(**bad)


def test_pair_imbalance_and_map_vs_classes_plot_the_rows():
    rows = [dict(num_classes=c, similar_share=1 / c, w_similar=c, w_dissimilar=c / (c - 1)) for c in (50, 5, 10)]
    fig = lesson04.plot_pair_imbalance(rows)
    assert fig.axes[0].lines[0].get_xdata().tolist() == [5, 10, 50]  # sorted by C
    assert fig.axes[1].lines[0].get_ydata().tolist() == [5, 10, 50]
    rows = [dict(method=m, num_classes=c, map=v) for m, c, v in
            (("HashNet", 10, 0.9), ("HashNet", 5, 0.95), ("HashNet-W", 5, 0.94), ("HashNet-W", 10, 0.6))]
    fig = lesson04.plot_map_vs_classes(rows)
    assert [line.get_label() for line in fig.axes[0].lines] == ["HashNet", "HashNet-W"]
    assert fig.axes[0].lines[1].get_ydata().tolist() == [0.94, 0.6]


def test_distance_histograms_split_relevant_and_irrelevant_pairs():
    q = np.array([[1, 1, 1, 1]], np.int8)
    d = np.array([[1, 1, 1, 1], [1, 1, 1, -1], [-1, -1, -1, -1]], np.int8)
    fig = lesson04.plot_distance_histograms({"a": (q, d), "b": (q, -d)}, np.array([0]), np.array([0, 0, 1]))
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    heights = sorted([float(bar.get_height()) for bar in c] for c in fig.axes[0].containers)  # one per group
    # relevant items at distances 0 and 1 (half each), the irrelevant one at distance 4
    assert heights == [[0.0, 0.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.0, 0.0, 0.0]]


# ------------------------------------------------------------------------------ notebook 05
def test_query_gallery_marks_the_wrong_results():
    data = image_data()
    rng = np.random.default_rng(0)
    q, d = random_codes(rng, len(data.y_query), 6), random_codes(rng, len(data.y_database), 6)
    fig = lesson01.plot_query_gallery(data, q, d, [0, 3], k=5)
    ax = fig.axes[0]
    canvas = ax.images[0].get_array()
    texts = ax.texts  # per row: "query", then "d=..." above each result, in rank order
    assert len(texts) == 2 * 6
    wrong = 0
    for row, query in enumerate([0, 3]):
        m = neighbours.top_matches(q, d, data.y_query, data.y_database, query, 5)
        row_texts = texts[6 * row:6 * row + 6]
        assert [t.get_text() for t in row_texts] == ["query"] + [f"d={x}" for x in m.distances]
        for j, text in enumerate(row_texts):
            x, y = text.get_position()  # centred above the tile: its top frame row is y + 0.5
            kind = "query" if j == 0 else ("right" if m.relevant[j - 1] else "wrong")
            np.testing.assert_allclose(canvas[int(y + 0.5), int(x)], lesson01.GALLERY_COLORS[kind])
        wrong += int((~m.relevant).sum())
        label = ax.get_yticklabels()[row].get_text()
        assert label.startswith(f"#{query}: class ") and label.endswith(f"P@5={m.precision:.2f}")
    assert len(ax.lines) == 2 * wrong  # a cross (two lines) over each wrong result
    single = lesson01.plot_query_gallery(data, q, d, 1, k=3, class_names=["a", "b", "c"])
    name = "abc"[class_ids(data.y_query)[1]]
    assert single.axes[0].get_yticklabels()[0].get_text().startswith(f"#1: {name}\n")


def test_retrieval_gallery_draws_grey_images_as_ink_on_white():
    img = np.zeros((1, 10, 10))
    img[0, 2, 3] = 1.0  # one bright pixel: the darkest ink
    fig = lesson01.plot_retrieval_gallery(img, np.zeros((1, 1, 10, 10)), np.ones((1, 1), bool), np.zeros((1, 1), int))
    canvas = fig.axes[0].images[0].get_array()
    ink = np.argwhere(canvas[..., 0] == 0.0)
    assert len(ink) == 1  # only that pixel is black; background and empty image are white
    frame = lesson01.GALLERY_COLORS["query"]
    y, x = ink[0]
    np.testing.assert_allclose(canvas[y - 2 - 1, x - 3 - 1], frame)  # the pixel diagonally outside the image


def test_retrieval_gallery_checks_shapes():
    with pytest.raises(ValueError, match="shapes disagree"):
        lesson01.plot_retrieval_gallery(np.zeros((2, 4, 4)), np.zeros((2, 3, 4, 4)), np.zeros((2, 2), bool),
                                        np.zeros((2, 3)))


def test_precision_at_k_curves():
    fig = lesson01.plot_precision_at_k([1, 5, 10], {"HashNet": [1.0, 0.8, 0.7], "LSH": [0.5, 0.4, 0.3]})
    ys = [line.get_ydata().tolist() for line in fig.axes[0].lines]
    assert ys == [[1.0, 0.8, 0.7], [0.5, 0.4, 0.3]]
    with pytest.raises(ValueError, match="one value per k"):
        lesson01.plot_precision_at_k([1, 5], {"HashNet": [1.0]})


def test_code_embedding_one_colour_per_class():
    xy = np.random.default_rng(0).random((9, 2))
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 0, 1])
    fig = lesson05.plot_code_embedding(xy, labels, class_names=["x", "y", "z"])
    collections = fig.axes[0].collections
    assert len(collections) == 3
    assert [len(c.get_offsets()) for c in collections] == [3, 3, 3]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="expected \\(N, 2\\)"):
        lesson05.plot_code_embedding(xy[:, :1], labels)
