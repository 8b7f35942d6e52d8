"""The multi-label Fashion-MNIST mosaics, built from small idx files in the real format."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from hashnet_lite.data import load_data
from hashnet_lite.data.mosaic import mosaics, shrink


def _write_idx(path, array: np.ndarray) -> None:
    codes = {np.dtype(np.uint8): 0x08}
    header = struct.pack(">HBB", 0, codes[array.dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


@pytest.fixture
def fashion_root(tmp_path):
    """A tiny Fashion-MNIST: 300 training and 100 test images, the class id drawn in the image."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 300), ("t10k", 100)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = (rng.integers(0, 50, (n, 28, 28)) + 20 * labels[:, None, None]).astype(np.uint8)
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels)
    return tmp_path


def test_shrink_averages_two_by_two_blocks():
    x = np.arange(16, dtype=np.uint8).reshape(1, 4, 4)
    np.testing.assert_array_equal(shrink(x)[0], [[2, 4], [10, 12]])  # means 2.5 -> 2 (even), 4.5 -> 4, ...


def test_a_mosaic_holds_its_four_tiles_and_the_union_of_their_classes():
    tiles = np.stack([np.full((2, 2), v, np.uint8) for v in range(5)])  # tile v is all v
    ids = np.array([0, 1, 1, 2, 3])
    images, labels = mosaics(tiles, ids, 50, 4, np.random.default_rng(1))
    assert images.shape == (50, 1, 4, 4) and labels.shape == (50, 4)
    for img, lab in zip(images, labels):
        corners = [img[0, 0, 0], img[0, 0, 2], img[0, 2, 0], img[0, 2, 2]]  # one pixel per tile
        expected = np.zeros(4, np.uint8)
        expected[ids[corners]] = 1
        np.testing.assert_array_equal(lab, expected)


def test_load_fashion_mosaic(fashion_root, monkeypatch):
    import hashnet_lite.data.mosaic as M

    monkeypatch.setattr(M, "SIZES", {"train": 40, "query": 10, "database": 60})
    data = load_data(f"fashion-mosaic:{fashion_root}", seed=3)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10 and data.topk == 5000
    assert (len(data.train), len(data.query), len(data.database)) == (40, 10, 60)
    assert data.y_query.shape == (10, 10) and set(np.unique(data.y_query)) <= {0, 1}
    assert (data.y_train.sum(1) >= 1).all() and (data.y_train.sum(1) <= 4).all()
    x, y = data.query[0]
    assert x.shape == (1, 28, 28) and float(x.max()) <= 1.0
    np.testing.assert_array_equal(y.numpy(), data.y_query[0])
    again = load_data(f"fashion-mosaic:{fashion_root}", seed=3)
    np.testing.assert_array_equal(again.y_database, data.y_database)  # the seed fixes every draw
    other = load_data(f"fashion-mosaic:{fashion_root}", seed=4)
    assert not np.array_equal(other.y_database, data.y_database)
    assert "mAP@5000" in data.protocol and "similar" in data.protocol


def test_the_mosaics_record_their_seed_and_load_data_with_it_draws_them_again(fashion_root, monkeypatch):
    import hashnet_lite.data.mosaic as M

    monkeypatch.setattr(M, "SIZES", {"train": 40, "query": 10, "database": 60})
    data = load_data(f"fashion-mosaic:{fashion_root}", seed=5)
    assert data.split_seed == 5 and data.fingerprint["split_seed"] == 5
    again = load_data(data.spec, seed=data.split_seed)  # what a checkpoint's meta is documented for
    assert again.fingerprint["sha256"] == data.fingerprint["sha256"]
