"""hashnet_lite.teaching.embedding (notebook 05), UMAP of codes under the Hamming distance: neighbourhoods survive, runs reproduce, and the
stratified subset keeps each class's share. The first UMAP call compiles its layout
optimiser (~15-35 s on a busy 2-core machine): one module-scoped map serves the two tests that
need it, both ``slow``."""
from __future__ import annotations

import numpy as np
import pytest

from hashnet_lite.teaching import embedding

pytest.importorskip("umap")


def _clustered_codes(seed=0, per_class=20, classes=3, bits=32, flip=0.05):
    rng = np.random.default_rng(seed)
    centres = np.where(rng.random((classes, bits)) < 0.5, 1, -1)
    labels = np.repeat(np.arange(classes), per_class)
    noise = np.where(rng.random((len(labels), bits)) < flip, -1, 1)
    return (centres[labels] * noise).astype(np.int8), labels


@pytest.fixture(scope="module")
def mapped():
    codes, labels = _clustered_codes()
    return codes, labels, embedding.umap_codes(codes, n_neighbors=8, n_epochs=60, seed=0)


@pytest.mark.slow
def test_umap_codes_keeps_classes_apart(mapped):
    codes, labels, xy = mapped
    assert xy.shape == (len(codes), 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    # nearest neighbour in the map has the same class (codes of a class differ in ~3 of 32 bits,
    # codes of different classes in ~16)
    d = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).mean() >= 0.95


@pytest.mark.slow
def test_umap_codes_reproducible(mapped):
    codes, _, xy = mapped
    np.testing.assert_array_equal(xy, embedding.umap_codes(codes, n_neighbors=8, n_epochs=60, seed=0))


def test_umap_codes_rejects_bad_input():
    codes, _ = _clustered_codes()
    with pytest.raises(ValueError, match="holds the value 0"):
        embedding.umap_codes(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at most"):
        embedding.umap_codes(np.ones((embedding.MAX_POINTS + 1, 2), np.int8))
    with pytest.raises(ValueError, match="n_neighbors=1"):
        embedding.umap_codes(codes, n_neighbors=1)
    with pytest.raises(ValueError, match="n_epochs=0"):
        embedding.umap_codes(codes, n_epochs=0)


def test_stratified_subset_keeps_class_shares():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    idx = embedding.stratified_subset(labels, 100, seed=0)
    assert len(idx) == 100 and (np.diff(idx) > 0).all()
    assert np.bincount(labels[idx]).tolist() == [60, 30, 10]
    np.testing.assert_array_equal(idx, embedding.stratified_subset(labels, 100, seed=0))
    assert not np.array_equal(idx, embedding.stratified_subset(labels, 100, seed=1))
    np.testing.assert_array_equal(embedding.stratified_subset(labels[:50], 100), np.arange(50))
    many = embedding.stratified_subset(np.arange(300) % 150, 100)  # rounding up 150 classes
    assert len(many) == 100
    with pytest.raises(ValueError, match="max_points=0"):
        embedding.stratified_subset(labels, 0)
