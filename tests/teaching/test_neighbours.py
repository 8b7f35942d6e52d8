"""hashnet_lite.teaching.neighbours (notebook 05): one query's top matches against the plain
reference ranking, picking queries, images for display, class names."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import image_data, random_codes

from hashnet_lite.checks import class_ids
from hashnet_lite.retrieval import reference
from hashnet_lite.teaching import neighbours


def _brute_force(q, d, ql, dl, query, k):
    """Rank by (Hamming distance, database index), as the definition reads."""
    dist = reference.hamming_distances(q[query:query + 1], d)[0]
    rel = reference.relevance(ql[query:query + 1], dl)[0]
    order = reference.ranking(dist, rel)[:k]
    return order, dist[order], rel[order]


@pytest.mark.parametrize("kind", ["ids", "multi"])
def test_top_matches_agree_with_brute_force(kind):
    rng = np.random.default_rng(0)
    q, d = random_codes(rng, 7, 6), random_codes(rng, 90, 6)  # 6 bits, 90 items: many ties
    if kind == "ids":
        ql, dl = rng.integers(0, 4, 7), rng.integers(0, 4, 90)
    else:
        ql, dl = (rng.random((7, 5)) < 0.3).astype(np.uint8), (rng.random((90, 5)) < 0.3).astype(np.uint8)
    before = [a.copy() for a in (q, d, ql, dl)]
    for query in range(7):
        m = neighbours.top_matches(q, d, ql, dl, query, k=25)
        order, dist, rel = _brute_force(q, d, ql, dl, query, 25)
        np.testing.assert_array_equal(m.indices, order)
        np.testing.assert_array_equal(m.distances, dist)
        np.testing.assert_array_equal(m.relevant, rel)
        assert m.precision == pytest.approx(rel.mean())
    for a, b in zip(before, (q, d, ql, dl)):
        np.testing.assert_array_equal(a, b)  # inputs untouched


def test_top_matches_accepts_torch_and_class_ids_missing_in_queries():
    rng = np.random.default_rng(1)
    q, d = random_codes(rng, 3, 8), random_codes(rng, 20, 8)
    ql, dl = np.array([0, 1, 0]), rng.integers(0, 6, 20)  # the database has classes the queries lack
    m_np = neighbours.top_matches(q, d, ql, dl, 1, k=5)
    m_t = neighbours.top_matches(torch.from_numpy(q), torch.from_numpy(d), torch.from_numpy(ql), torch.from_numpy(dl), 1, 5)
    np.testing.assert_array_equal(m_np.indices, m_t.indices)
    np.testing.assert_array_equal(m_np.relevant, dl[m_np.indices] == 1)


@pytest.mark.parametrize("bad, match", [(dict(query=5), "query=5"), (dict(query=-1), "query=-1"),
                                        (dict(k=0), "k=0"), (dict(k=21), "k=21"), (dict(query=True), "query=True")])
def test_top_matches_rejects_bad_arguments(bad, match):
    rng = np.random.default_rng(2)
    args = dict(query=0, k=3)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        neighbours.top_matches(random_codes(rng, 5, 8), random_codes(rng, 20, 8), np.zeros(5, int), np.zeros(20, int), **args)


def test_top_matches_rejects_label_count_mismatch():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="database_labels has 19 rows"):
        neighbours.top_matches(random_codes(rng, 5, 8), random_codes(rng, 20, 8), np.zeros(5, int), np.zeros(19, int), 0, 3)


def test_pick_queries_one_per_class_deterministic():
    labels = np.repeat(np.arange(4), 10)
    picks = neighbours.pick_queries(labels, seed=0)
    np.testing.assert_array_equal(labels[picks], np.arange(4))
    np.testing.assert_array_equal(picks, neighbours.pick_queries(labels, seed=0))
    assert any((neighbours.pick_queries(labels, seed=s) != picks).any() for s in range(1, 5))
    two = neighbours.pick_queries(np.eye(4, dtype=np.uint8)[labels], per_class=2, seed=0)  # one-hot rows
    assert len(two) == 8 and (np.bincount(labels[two]) == 2).all()
    few = neighbours.pick_queries(np.array([0, 0, 1]), per_class=5)
    np.testing.assert_array_equal(np.sort(few), [0, 1, 2])
    with pytest.raises(ValueError, match="per_class=0"):
        neighbours.pick_queries(labels, per_class=0)


def test_display_images_shapes_and_rescaling():
    data = image_data()
    imgs = neighbours.display_images(data.database, [0, 3])
    assert imgs.shape == (2, 4, 4) and imgs.dtype == np.float32
    np.testing.assert_allclose(imgs[1], data.database[3][0][0].numpy())  # already in [0, 1]: unchanged
    wide = image_data(scale=7.0)  # outside [0, 1]: each image rescaled to exactly [0, 1]
    imgs = neighbours.display_images(wide.query, [0, 1])
    assert imgs.min(axis=(1, 2)).tolist() == [0, 0] and np.allclose(imgs.max(axis=(1, 2)), 1)
    rgb = [(torch.rand(3, 5, 6), torch.zeros(2))] * 2
    assert neighbours.display_images(rgb, [1]).shape == (1, 5, 6, 3)
    with pytest.raises(ValueError, match="indices"):
        neighbours.display_images(data.query, [len(data.query)])


def test_class_names_by_spec():
    assert neighbours.class_names("fashion-mnist:/data/fm")[9] == "Ankle boot"
    assert neighbours.class_names("digits") == list("0123456789")
    assert neighbours.class_names("npz:x.npz") is None


def test_class_ids_are_the_checks_helper():
    assert neighbours.class_ids is class_ids  # the lessons call it from here
