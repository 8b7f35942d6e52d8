"""hashnet_lite.data.npz: your own arrays through ``npz:``, features and images, class ids and
multi-hot rows, and the errors that name what is wrong."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_npz

from hashnet_lite.data import load_data


def save_npz(path: Path, **overrides) -> Path:
    """40 training items in 3 classes, 7 queries, 20 database items in 5 classes, 6 features
    around 5 with std 3; ``overrides`` replace arrays (None removes one)."""
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.normal(5, 3, (40, 6)), "y_train": np.arange(40) % 3,
              "x_query": rng.normal(5, 3, (7, 6)), "y_query": np.arange(7) % 3,
              "x_database": rng.normal(5, 3, (20, 6)), "y_database": np.arange(20) % 5}
    return write_npz(path, arrays, **overrides)


def test_npz_features_class_ids(tmp_path):
    path = save_npz(tmp_path / "f.npz")
    d = load_data(f"npz:{path}")
    assert d.input_shape == (6,) and d.num_classes == 5  # max id over all parts + 1
    assert (len(d.train), len(d.query), len(d.database)) == (40, 7, 20) and d.topk is None
    assert d.y_train.shape == (40, 5) and d.y_train[:, 3:].sum() == 0
    assert np.array_equal(d.y_database.argmax(1), np.arange(20) % 5)
    with np.load(path) as f:
        mean, std = f["x_train"].mean(0), f["x_train"].std(0)
        expected_query = (f["x_query"] - mean) / std
    train = d.arrays("train")
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(0), 1, atol=1e-5)
    np.testing.assert_allclose(d.arrays("query"), expected_query, rtol=1e-5, atol=1e-5)
    x, y = d.query[2]
    assert x.dtype == torch.float32 and y.tolist() == [0, 0, 1, 0, 0]


def test_npz_constant_column_is_only_centred(tmp_path):
    x = np.random.default_rng(1).normal(size=(40, 6))
    x[:, 2] = 7.0
    d = load_data(f"npz:{save_npz(tmp_path / 'c.npz', x_train=x)}")
    assert np.all(d.arrays("train")[:, 2] == 0) and np.isfinite(d.arrays("query")).all()


def test_npz_images_and_multi_hot(tmp_path):
    rng = np.random.default_rng(0)
    multi = lambda n: (rng.random((n, 4)) < 0.5).astype(np.int64)
    grey = rng.integers(0, 256, (10, 5, 6), dtype=np.uint8)
    d = load_data("npz:" + str(save_npz(
        tmp_path / "g.npz", x_train=grey, x_query=grey[:3], x_database=grey,
        y_train=multi(10), y_query=multi(3), y_database=multi(10))))
    assert d.input_shape == (1, 5, 6) and d.num_classes == 4
    np.testing.assert_allclose(d.arrays("train"), grey.reshape(10, -1) / 255, rtol=1e-6)
    assert torch.allclose(d.train[1][0][0], torch.from_numpy(grey[1] / 255).float())

    nhwc = rng.integers(0, 256, (10, 5, 6, 3), dtype=np.uint8)
    d = load_data("npz:" + str(save_npz(tmp_path / "h.npz", x_train=nhwc, x_query=nhwc[:7],
                                        x_database=nhwc, y_train=np.arange(10) % 3,
                                        y_database=np.arange(10) % 5)))
    assert d.input_shape == (3, 5, 6)
    assert torch.allclose(d.train[4][0], torch.from_numpy(nhwc[4].transpose(2, 0, 1) / 255).float())

    nchw = rng.random((10, 3, 5, 6)).astype(np.float32) * 9  # float images: used as they are
    d = load_data("npz:" + str(save_npz(tmp_path / "n.npz", x_train=nchw, x_query=nchw[:7],
                                        x_database=nchw, y_train=np.arange(10) % 3,
                                        y_database=np.arange(10) % 5)))
    assert d.input_shape == (3, 5, 6) and torch.equal(d.train[4][0], torch.from_numpy(nchw[4]))


def test_npz_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_data(f"npz:{tmp_path / 'none.npz'}")
    bad = {
        "lacks the keys \\['y_query', 'x_database'\\]": dict(y_query=None, x_database=None),
        "x_query has 7 rows but y_query has 6": dict(y_query=np.arange(6)),
        "item shapes differ between parts": dict(x_database=np.zeros((20, 5))),
        "y_train must hold 0/1 multi-hot rows; found values \\[2\\]": dict(
            y_train=np.full((40, 3), 2), y_query=np.ones((7, 3)), y_database=np.ones((20, 3))),
        "multi-hot label widths differ": dict(
            y_train=np.ones((40, 3)), y_query=np.ones((7, 4)), y_database=np.ones((20, 3))),
        "label kinds differ between parts": dict(y_query=np.ones((7, 3))),
        "y_database must hold non-negative integer class ids; found \\[-1\\]": dict(
            y_database=np.arange(20) - 1),
        "y_train must hold non-negative integer class ids; found \\[0.5\\]": dict(
            y_train=np.arange(40) % 3 + 0.5 * (np.arange(40) == 0)),
        "x_query holds NaN": dict(x_query=np.full((7, 6), np.nan)),
        "x_query is empty": dict(x_query=np.zeros((0, 6)), y_query=np.zeros(0, int)),
        "expected \\(N, D\\) features": dict(x_train=np.zeros((40, 1, 1, 1, 1)),
                                            x_query=np.zeros((7, 1, 1, 1, 1)),
                                            x_database=np.zeros((20, 1, 1, 1, 1))),
        "could not be read as plain arrays": dict(x_train=np.array([None] * 40, dtype=object)),
    }
    for i, (match, overrides) in enumerate(bad.items()):
        with pytest.raises(ValueError, match=match):
            load_data(f"npz:{save_npz(tmp_path / f'bad{i}.npz', **overrides)}")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="junk.npz"):
        load_data(f"npz:{tmp_path / 'junk.npz'}")
