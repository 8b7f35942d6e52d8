"""The retrieval gallery (notebook 05): top matches against a brute-force ranking, query
picking, images for display, the gallery and curve figures, and the query-picker widget."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from hashnet_lite import gallery, plots
from hashnet_lite.data import split_arrays

matplotlib.use("Agg")


def _codes(rng, n, bits):
    return np.where(rng.random((n, bits)) < 0.5, 1, -1).astype(np.int8)


def _brute_force(q, d, ql, dl, query, k):
    """Rank by (Hamming distance, database index) from the definition d = (K - <q, x>) / 2."""
    dist = (q.shape[1] - d.astype(int) @ q[query].astype(int)) // 2
    order = np.lexsort((np.arange(len(d)), dist))[:k]
    if ql.ndim == 1:
        rel = dl[order] == ql[query]
    else:
        rel = (dl[order] @ ql[query]) > 0
    return order, dist[order], rel


@pytest.mark.parametrize("kind", ["ids", "multi"])
def test_top_matches_agree_with_brute_force(kind):
    rng = np.random.default_rng(0)
    q, d = _codes(rng, 7, 6), _codes(rng, 90, 6)  # 6 bits, 90 items: many ties
    if kind == "ids":
        ql, dl = rng.integers(0, 4, 7), rng.integers(0, 4, 90)
    else:
        ql, dl = (rng.random((7, 5)) < 0.3).astype(np.uint8), (rng.random((90, 5)) < 0.3).astype(np.uint8)
    before = [a.copy() for a in (q, d, ql, dl)]
    for query in range(7):
        m = gallery.top_matches(q, d, ql, dl, query, k=25)
        order, dist, rel = _brute_force(q, d, ql, dl, query, 25)
        np.testing.assert_array_equal(m.indices, order)
        np.testing.assert_array_equal(m.distances, dist)
        np.testing.assert_array_equal(m.relevant, rel)
        assert m.precision == pytest.approx(rel.mean())
    for a, b in zip(before, (q, d, ql, dl)):
        np.testing.assert_array_equal(a, b)  # inputs untouched


def test_top_matches_accepts_torch_and_class_ids_missing_in_queries():
    rng = np.random.default_rng(1)
    q, d = _codes(rng, 3, 8), _codes(rng, 20, 8)
    ql, dl = np.array([0, 1, 0]), rng.integers(0, 6, 20)  # the database has classes the queries lack
    m_np = gallery.top_matches(q, d, ql, dl, 1, k=5)
    m_t = gallery.top_matches(torch.from_numpy(q), torch.from_numpy(d), torch.from_numpy(ql), torch.from_numpy(dl), 1, 5)
    np.testing.assert_array_equal(m_np.indices, m_t.indices)
    np.testing.assert_array_equal(m_np.relevant, dl[m_np.indices] == 1)


@pytest.mark.parametrize("bad, match", [(dict(query=5), "query=5"), (dict(query=-1), "query=-1"),
                                        (dict(k=0), "k=0"), (dict(k=21), "k=21"), (dict(query=True), "query=True")])
def test_top_matches_rejects_bad_arguments(bad, match):
    rng = np.random.default_rng(2)
    args = dict(query=0, k=3)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        gallery.top_matches(_codes(rng, 5, 8), _codes(rng, 20, 8), np.zeros(5, int), np.zeros(20, int), **args)


def test_top_matches_rejects_label_count_mismatch():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="database_labels has 19 rows"):
        gallery.top_matches(_codes(rng, 5, 8), _codes(rng, 20, 8), np.zeros(5, int), np.zeros(19, int), 0, 3)


def test_class_ids_first_label_and_no_label():
    y = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(gallery.class_ids(y), [1, 0, -1])
    np.testing.assert_array_equal(gallery.class_ids(np.array([2, 0])), [2, 0])
    with pytest.raises(ValueError, match="0/1"):
        gallery.class_ids(np.array([[0, 2]]))


def test_pick_queries_one_per_class_deterministic():
    labels = np.repeat(np.arange(4), 10)
    picks = gallery.pick_queries(labels, seed=0)
    np.testing.assert_array_equal(labels[picks], np.arange(4))
    np.testing.assert_array_equal(picks, gallery.pick_queries(labels, seed=0))
    assert any((gallery.pick_queries(labels, seed=s) != picks).any() for s in range(1, 5))
    two = gallery.pick_queries(np.eye(4, dtype=np.uint8)[labels], per_class=2, seed=0)  # one-hot rows
    assert len(two) == 8 and (np.bincount(labels[two]) == 2).all()
    few = gallery.pick_queries(np.array([0, 0, 1]), per_class=5)
    np.testing.assert_array_equal(np.sort(few), [0, 1, 2])
    with pytest.raises(ValueError, match="per_class=0"):
        gallery.pick_queries(labels, per_class=0)


def _image_data(n_per_class=12, classes=3, seed=0, side=4, scale=1.0):
    rng = np.random.default_rng(seed)
    class_ids = np.repeat(np.arange(classes), n_per_class)
    x = torch.from_numpy((rng.random((len(class_ids), 1, side, side)) * scale).astype(np.float32))
    return split_arrays("test", x, class_ids, seed=seed, n_query=2, n_train=4, database="rest", topk=None, name="t")


def test_display_images_shapes_and_rescaling():
    data = _image_data()
    imgs = gallery.display_images(data.database, [0, 3])
    assert imgs.shape == (2, 4, 4) and imgs.dtype == np.float32
    np.testing.assert_allclose(imgs[1], data.database[3][0][0].numpy())  # already in [0, 1]: unchanged
    wide = _image_data(scale=7.0)  # outside [0, 1]: each image rescaled to exactly [0, 1]
    imgs = gallery.display_images(wide.query, [0, 1])
    assert imgs.min(axis=(1, 2)).tolist() == [0, 0] and np.allclose(imgs.max(axis=(1, 2)), 1)
    rgb = [(torch.rand(3, 5, 6), torch.zeros(2))] * 2
    assert gallery.display_images(rgb, [1]).shape == (1, 5, 6, 3)
    with pytest.raises(ValueError, match="indices"):
        gallery.display_images(data.query, [len(data.query)])


def test_query_gallery_marks_the_wrong_results():
    data = _image_data()
    rng = np.random.default_rng(0)
    q, d = _codes(rng, len(data.y_query), 6), _codes(rng, len(data.y_database), 6)
    fig = plots.query_gallery(data, q, d, [0, 3], k=5)
    ax = fig.axes[0]
    canvas = ax.images[0].get_array()
    texts = ax.texts  # per row: "query", then "d=..." above each result, in rank order
    assert len(texts) == 2 * 6
    wrong = 0
    for row, query in enumerate([0, 3]):
        m = gallery.top_matches(q, d, data.y_query, data.y_database, query, 5)
        row_texts = texts[6 * row:6 * row + 6]
        assert [t.get_text() for t in row_texts] == ["query"] + [f"d={x}" for x in m.distances]
        for j, text in enumerate(row_texts):
            x, y = text.get_position()  # centred above the tile: its top frame row is y + 0.5
            kind = "query" if j == 0 else ("right" if m.relevant[j - 1] else "wrong")
            np.testing.assert_allclose(canvas[int(y + 0.5), int(x)], plots.GALLERY_COLORS[kind])
        wrong += int((~m.relevant).sum())
        label = ax.get_yticklabels()[row].get_text()
        assert label.startswith(f"#{query}: class ") and label.endswith(f"P@5={m.precision:.2f}")
    assert len(ax.lines) == 2 * wrong  # a cross (two lines) over each wrong result
    single = plots.query_gallery(data, q, d, 1, k=3, class_names=["a", "b", "c"])
    name = "abc"[gallery.class_ids(data.y_query)[1]]
    assert single.axes[0].get_yticklabels()[0].get_text().startswith(f"#1: {name}\n")


def test_retrieval_gallery_draws_grey_images_as_ink_on_white():
    img = np.zeros((1, 10, 10))
    img[0, 2, 3] = 1.0  # one bright pixel: the darkest ink
    fig = plots.retrieval_gallery(img, np.zeros((1, 1, 10, 10)), np.ones((1, 1), bool), np.zeros((1, 1), int))
    canvas = fig.axes[0].images[0].get_array()
    ink = np.argwhere(canvas[..., 0] == 0.0)
    assert len(ink) == 1  # only that pixel is black; background and empty image are white
    frame = plots.GALLERY_COLORS["query"]
    y, x = ink[0]
    np.testing.assert_allclose(canvas[y - 2 - 1, x - 3 - 1], frame)  # the pixel diagonally outside the image


def test_retrieval_gallery_checks_shapes():
    with pytest.raises(ValueError, match="shapes disagree"):
        plots.retrieval_gallery(np.zeros((2, 4, 4)), np.zeros((2, 3, 4, 4)), np.zeros((2, 2), bool), np.zeros((2, 3)))


def test_precision_at_k_and_metric_vs_bits_figures():
    fig = plots.precision_at_k_curves([1, 5, 10], {"HashNet": [1.0, 0.8, 0.7], "LSH": [0.5, 0.4, 0.3]})
    ys = [line.get_ydata().tolist() for line in fig.axes[0].lines]
    assert ys == [[1.0, 0.8, 0.7], [0.5, 0.4, 0.3]]
    with pytest.raises(ValueError, match="one value per k"):
        plots.precision_at_k_curves([1, 5], {"HashNet": [1.0]})
    rows = [dict(method="HashNet", bits=b, precision_radius2=p) for b, p in ((32, 0.6), (16, 0.8))]
    fig = plots.metric_vs_bits(rows, "precision_radius2", "precision within radius 2", "t")
    assert fig.axes[0].lines[0].get_xdata().tolist() == [16, 32]
    assert fig.axes[0].lines[0].get_ydata().tolist() == [0.8, 0.6]
    with pytest.raises(ValueError, match="lack 'map'"):
        plots.metric_vs_bits(rows, "map", "mAP", "t")


def test_code_embedding_one_colour_per_class():
    xy = np.random.default_rng(0).random((9, 2))
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 0, 1])
    fig = plots.code_embedding(xy, labels, class_names=["x", "y", "z"])
    collections = fig.axes[0].collections
    assert len(collections) == 3
    assert [len(c.get_offsets()) for c in collections] == [3, 3, 3]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="expected \\(N, 2\\)"):
        plots.code_embedding(xy[:, :1], labels)


def test_query_explorer_builds_sliders():
    widgets_retrieval = pytest.importorskip("hashnet_lite.widgets_retrieval")
    data = _image_data()
    rng = np.random.default_rng(0)
    q, d = _codes(rng, len(data.y_query), 6), _codes(rng, len(data.y_database), 6)
    box = widgets_retrieval.query_explorer(data, q, d, query=2, k=4)
    sliders = box.children[0].children
    assert [s.description for s in sliders] == ["query", "k"]
    assert all(not s.continuous_update for s in sliders)
    assert sliders[0].max == len(data.y_query) - 1
    with pytest.raises(ValueError, match="query=99"):
        widgets_retrieval.query_explorer(data, q, d, query=99)


def test_class_names_by_spec():
    assert gallery.class_names("fashion-mnist:/data/fm")[9] == "Ankle boot"
    assert gallery.class_names("digits") == list("0123456789")
    assert gallery.class_names("npz:x.npz") is None
