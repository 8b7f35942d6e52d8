"""hashnet_lite.data.npz: your own arrays through ``npz:``, features and images, class ids and
multi-hot rows, and the errors that name what is wrong."""
from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_npz

from hashnet_lite.data import load_data
from hashnet_lite.errors import DataError, DataWarning


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


# ---------------------------------------------------------------- labels kept exactly or refused

def test_float_class_ids_beyond_exact_integers_are_refused(tmp_path):
    """1e19 and 1e30 as float ids would both cast to one int64 (-2**63), merging two classes."""
    ids = lambda n: np.where(np.arange(n) % 2 == 0, 1e19, 1e30)  # noqa: E731
    path = save_npz(tmp_path / "f.npz", y_train=ids(40), y_query=ids(7), y_database=ids(20))
    with pytest.raises(DataError, match=r"y_train holds the float64 class id 1e\+19, beyond 2\*\*53"):
        load_data(f"npz:{path}")
    float32_ids = np.full(40, 2.0**24 + 2, np.float32)  # beyond float32's exact integers
    path = save_npz(tmp_path / "g.npz", y_train=float32_ids)
    with pytest.raises(DataError, match=r"float32 class id .*beyond 2\*\*24"):
        load_data(f"npz:{path}")
    exact = lambda n: (np.arange(n) % 3).astype(np.float64) * 2.0**52  # noqa: E731 (exact floats: kept)
    d = load_data(f"npz:{save_npz(tmp_path / 'h.npz', y_train=exact(40), y_query=exact(7), y_database=exact(20))}")
    assert d.label_ids.dtype == np.int64 and d.label_ids.tolist() == [0, 2**52, 2**53]


def test_uint64_class_ids_of_2_63_and_above_are_kept_exactly(tmp_path):
    top = np.array([5, 2**63, 2**63 + 1, 2**64 - 1], dtype=np.uint64)
    path = save_npz(tmp_path / "u.npz", y_train=top[np.arange(40) % 4], y_query=top[np.arange(7) % 4],
                    y_database=top[np.arange(20) % 4])
    d = load_data(f"npz:{path}")
    assert d.label_ids.dtype == np.uint64 and d.label_ids.tolist() == [5, 2**63, 2**63 + 1, 2**64 - 1]
    assert d.num_classes == 4 and d.y_query[:4].argmax(1).tolist() == [0, 1, 2, 3]
    small = save_npz(tmp_path / "s.npz", y_train=(np.arange(40) % 3).astype(np.uint64))  # others int64
    assert load_data(f"npz:{small}").label_ids.dtype == np.int64


# ---------------------------------------------------------------- degenerate npz files

def test_overflowing_features_are_standardised_and_images_refused(tmp_path):
    rng = np.random.default_rng(0)
    base = {p: rng.normal(5, 3, (n, 6)) for p, n in (("train", 40), ("query", 7), ("database", 20))}
    plain = load_data(f"npz:{save_npz(tmp_path / 'a.npz', **{f'x_{p}': v for p, v in base.items()})}")
    huge = load_data(f"npz:{save_npz(tmp_path / 'b.npz', **{f'x_{p}': v * 1e306 for p, v in base.items()})}")
    for part in ("train", "query", "database"):
        assert np.isfinite(huge.arrays(part)).all()
        np.testing.assert_allclose(huge.arrays(part), plain.arrays(part), rtol=1e-5, atol=1e-5)
    far = save_npz(tmp_path / "c.npz", x_query=base["query"] * 1e300)  # finite, far beyond x_train's scale
    with pytest.raises(DataError, match=r"x_query holds values that are beyond float32's range"):
        load_data(f"npz:{far}")
    images = save_npz(tmp_path / "d.npz", **{f"x_{p}": np.full((len(v), 4, 4), 1e300) for p, v in base.items()})
    with pytest.raises(DataError, match=r"x_train holds values up to 1e\+300, beyond float32's range"):
        load_data(f"npz:{images}")


def test_single_class_everywhere_draws_a_warning(tmp_path):
    path = save_npz(tmp_path / "one.npz", y_train=np.full(40, 3), y_query=np.full(7, 3), y_database=np.full(20, 3))
    with pytest.warns(DataWarning, match=r"every item has the same label \(class id 3\).*mAP 1"):
        load_data(f"npz:{path}")
    hot = {f"y_{p}": np.tile([0, 1, 0], (n, 1)) for p, n in (("train", 40), ("query", 7), ("database", 20))}
    with pytest.warns(DataWarning, match=r"same label \(label column 1\)"):
        load_data(f"npz:{save_npz(tmp_path / 'hot.npz', **hot)}")


def test_labels_shaped_n_by_1_hint_at_class_ids_saved_as_a_column(tmp_path):
    col = {f"y_{p}": (np.arange(n) % 2)[:, None] for p, n in (("train", 40), ("query", 7), ("database", 20))}
    with pytest.warns(DataWarning, match=r"one column.*class ids saved as a column.*y\.ravel\(\)"):
        load_data(f"npz:{save_npz(tmp_path / 'c.npz', **col)}")
    ids = {f"y_{p}": (np.arange(n) % 4)[:, None] for p, n in (("train", 40), ("query", 7), ("database", 20))}
    with pytest.raises(DataError, match=r"found values \[2, 3\].*y\.ravel\(\)"):
        load_data(f"npz:{save_npz(tmp_path / 'i.npz', **ids)}")


def test_symlink_loop_fifo_and_device_are_named_not_missing(tmp_path):
    loop = tmp_path / "loop.npz"
    loop.symlink_to(loop)
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    for path, words in ((loop, "symbolic link loop"), (fifo, "named pipe (FIFO)"), (Path("/dev/zero"), "device file")):
        with pytest.raises(DataError, match=re.escape(words)) as info:
            load_data(f"npz:{path}")
        assert "does not exist" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_data(f"npz:{tmp_path / 'absent.npz'}")


def test_huge_declared_npz_header_is_one_clear_error(tmp_path):
    """A header declaring (10**6, 10**4) float32 over a few bytes of data is refused as corrupt
    before numpy allocates anything (37.3 GiB)."""
    good = save_npz(tmp_path / "good.npz")
    path = tmp_path / "huge.npz"
    with np.load(good) as f, zipfile.ZipFile(path, "w") as z:
        for key in f.files:
            if key == "x_train":
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**4)})
                z.writestr("x_train.npy", header.getvalue() + b"\0" * 64)
            else:
                buffer = io.BytesIO()
                np.save(buffer, f[key])
                z.writestr(f"{key}.npy", buffer.getvalue())
    with pytest.raises(DataError, match=r"x_train declares shape \(1000000, 10000\) of float32 \(37\.3 GiB\) "
                                        r"but the file holds 64 bytes"):
        load_data(f"npz:{path}")
