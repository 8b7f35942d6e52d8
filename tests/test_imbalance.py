"""Notebook 04's helpers: pair statistics against counts by hand, the synthetic many-class
data, and the likelihood / imbalance figures (the alpha slider's drawing function)."""
from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pytest
import torch

from hashnet_lite import imbalance, plots
from hashnet_lite.synthetic import gaussian_clusters

matplotlib.use("Agg")


def _share_by_hand(labels):
    rows = np.eye(labels.max() + 1)[labels] if labels.ndim == 1 else labels
    pairs = [(i, j) for i, j in itertools.permutations(range(len(rows)), 2)]
    return sum(rows[i] @ rows[j] > 0 for i, j in pairs) / len(pairs)


def test_similar_pair_share_matches_counting():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, 30)
    assert imbalance.similar_pair_share(ids) == pytest.approx(_share_by_hand(ids))
    multi = (rng.random((25, 6)) < 0.25).astype(np.uint8)
    assert imbalance.similar_pair_share(multi) == pytest.approx(_share_by_hand(multi))
    assert imbalance.similar_pair_share(torch.from_numpy(ids)) == pytest.approx(_share_by_hand(ids))
    # C balanced classes of m items: (m - 1) / (C m - 1) of the pairs are similar, -> 1 / C
    m, c = 7, 9
    assert imbalance.similar_pair_share(np.repeat(np.arange(c), m)) == pytest.approx((m - 1) / (c * m - 1))
    assert imbalance.balanced_share(c) == pytest.approx(1 / c)


def test_batch_statistics_of_the_whole_set_are_the_weights_of_eq5():
    labels = np.repeat(np.arange(4), 5)  # 20 items; one "batch" = all of them
    stats = imbalance.batch_pair_statistics(labels, batch_size=20, n_batches=3, seed=1)
    n_all = 20 * 19
    n_sim = 4 * 5 * 4
    assert stats["similar_share"] == pytest.approx(n_sim / n_all)
    assert stats["w_similar"] == pytest.approx(n_all / n_sim)
    assert stats["w_dissimilar"] == pytest.approx(n_all / (n_all - n_sim))
    assert stats["similar_weight_share_paper"] == pytest.approx(0.5)  # Eq. 5 balances the two kinds
    assert stats["similar_weight_share_none"] == pytest.approx(n_sim / n_all)
    assert stats["batches_without_similar"] == 0


def test_batch_statistics_random_batches_deterministic_and_empty_batches_counted():
    labels = np.arange(50)  # 50 classes of one item: no batch has a similar pair
    stats = imbalance.batch_pair_statistics(labels, batch_size=8, n_batches=4)
    assert stats["similar_share"] == 0 and stats["batches_without_similar"] == 1
    assert np.isnan(stats["w_similar"]) and stats["w_dissimilar"] == pytest.approx(1.0)
    labels = np.random.default_rng(0).integers(0, 10, 500)
    a = imbalance.batch_pair_statistics(labels, 64, n_batches=20, seed=3)
    assert a == imbalance.batch_pair_statistics(labels, 64, n_batches=20, seed=3)
    assert a["similar_share"] == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize("call, match", [
    (lambda: imbalance.batch_pair_statistics(np.zeros(10, int), batch_size=11), "batch_size=11"),
    (lambda: imbalance.batch_pair_statistics(np.zeros(10, int), batch_size=1), "batch_size=1"),
    (lambda: imbalance.batch_pair_statistics(np.zeros(10, int), n_batches=0), "n_batches=0"),
    (lambda: imbalance.similar_pair_share(np.array([0.5, 1.0])), "class ids"),
    (lambda: imbalance.similar_pair_share(np.array([[0, 2], [1, 0]])), "0/1"),
    (lambda: imbalance.balanced_share(0), "num_classes=0"),
])
def test_imbalance_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_gaussian_clusters_split_and_determinism():
    data = gaussian_clusters(7, per_class=20, n_query=3, n_train=5, dim=4, seed=2)
    assert data.num_classes == 7 and data.input_shape == (4,)
    assert len(data.y_query) == 21 and len(data.y_train) == 35 and len(data.y_database) == 140 - 21
    assert (data.y_query.sum(0) == 3).all() and (data.y_train.sum(0) == 5).all()
    again = gaussian_clusters(7, per_class=20, n_query=3, n_train=5, dim=4, seed=2)
    np.testing.assert_array_equal(data.arrays("train"), again.arrays("train"))
    other = gaussian_clusters(7, per_class=20, n_query=3, n_train=5, dim=4, seed=3)
    assert not np.array_equal(data.arrays("train"), other.arrays("train"))
    # far-apart centres: every training item is nearest to its own class's mean
    far = gaussian_clusters(5, per_class=30, n_query=5, n_train=20, dim=8, spread=6.0)
    x, y = far.arrays("train"), far.y_train.argmax(1)
    means = np.stack([x[y == c].mean(0) for c in range(5)])
    assert ((((x[:, None] - means[None]) ** 2).sum(-1)).argmin(1) == y).all()


@pytest.mark.parametrize("kw, match", [(dict(num_classes=1), "num_classes=1"), (dict(n_query=50), "per_class"),
                                       (dict(spread=0.0), "spread=0.0"), (dict(dim=0), "dim=0")])
def test_gaussian_clusters_rejects_bad_arguments(kw, match):
    args = dict(num_classes=3)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        gaussian_clusters(**args)


def test_similarity_probability_curves():
    fig = plots.similarity_probability(16, alpha_times_bits=10.0)
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
            plots.similarity_probability(**bad)


def test_pair_imbalance_and_map_vs_classes_plot_the_rows():
    rows = [dict(num_classes=c, similar_share=1 / c, w_similar=c, w_dissimilar=c / (c - 1)) for c in (50, 5, 10)]
    fig = plots.pair_imbalance(rows)
    assert fig.axes[0].lines[0].get_xdata().tolist() == [5, 10, 50]  # sorted by C
    assert fig.axes[1].lines[0].get_ydata().tolist() == [5, 10, 50]
    rows = [dict(method=m, num_classes=c, map=v) for m, c, v in
            (("HashNet", 10, 0.9), ("HashNet", 5, 0.95), ("HashNet-W", 5, 0.94), ("HashNet-W", 10, 0.6))]
    fig = plots.map_vs_classes(rows)
    assert [line.get_label() for line in fig.axes[0].lines] == ["HashNet", "HashNet-W"]
    assert fig.axes[0].lines[1].get_ydata().tolist() == [0.94, 0.6]


def test_distance_histograms_split_relevant_and_irrelevant_pairs():
    q = np.array([[1, 1, 1, 1]], np.int8)
    d = np.array([[1, 1, 1, 1], [1, 1, 1, -1], [-1, -1, -1, -1]], np.int8)
    fig = plots.distance_histograms({"a": (q, d), "b": (q, -d)}, np.array([0]), np.array([0, 0, 1]))
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    relevant_bars = fig.axes[0].containers[0]
    heights = [bar.get_height() for bar in relevant_bars]
    assert heights == [0.5, 0.5, 0, 0, 0]  # relevant items at distances 0 and 1
    irrelevant = [bar.get_height() for bar in fig.axes[0].containers[1]]
    assert irrelevant == [0, 0, 0, 0, 1.0]


def test_alpha_explorer_builds_sliders():
    widgets_likelihood = pytest.importorskip("hashnet_lite.widgets_likelihood")
    box = widgets_likelihood.alpha_explorer(bits=24)
    sliders = box.children[0].children
    assert [s.description for s in sliders] == ["bits", "alpha x K"]
    assert sliders[0].value == 24 and all(not s.continuous_update for s in sliders)
