"""hashnet_lite.data's entry point: the spec forms, the data root, ``load_data``'s checks and
the shipped digits split (the image loaders: test_images.py; npz: test_npz.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hashnet_lite import data as D
from hashnet_lite.data import load_data, parse_data_spec


@pytest.fixture(autouse=True)
def no_data_root_variable(monkeypatch):
    monkeypatch.delenv("HASHNET_LITE_DATA", raising=False)


@pytest.mark.parametrize("spec, expected", [
    ("digits", ("digits", None)),
    ("fashion-mnist", ("fashion-mnist", None)),
    ("fashion-mnist:/x/y", ("fashion-mnist", "/x/y")),
    ("cifar10:data/c", ("cifar10", "data/c")),
    ("npz:a.npz", ("npz", "a.npz")),
    ("list:/r", ("list", "/r")),
    ("imagenet100:r", ("imagenet100", "r")),
    ("nuswide", ("nuswide", None)),
    ("coco:C:/win", ("coco", "C:/win")),  # only the first ':' separates
])
def test_parse_data_spec_valid(spec, expected):
    assert parse_data_spec(spec) == expected


@pytest.mark.parametrize("spec, match", [
    ("mnist", "unknown kind 'mnist'"),
    ("", "expected one of"),
    ("digits:foo", "takes no argument"),
    ("npz", "needs an argument"),
    ("list", "needs an argument"),
    ("fashion-mnist:", "empty argument"),
])
def test_parse_data_spec_invalid(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_data_spec(spec)


def test_parse_error_lists_every_form():
    with pytest.raises(ValueError) as info:
        parse_data_spec("bogus")
    for form in ("digits", "fashion-mnist[:ROOT]", "cifar10[:ROOT]", "npz:PATH", "list:ROOT",
                 "imagenet100[:ROOT]", "nuswide[:ROOT]", "coco[:ROOT]"):
        assert form in str(info.value)


def test_default_data_root(monkeypatch, tmp_path):
    assert D.default_data_root() == Path(D.__file__).resolve().parents[2] / "data"  # the repository's data/
    monkeypatch.setenv("HASHNET_LITE_DATA", str(tmp_path))
    assert D.default_data_root() == tmp_path


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_load_data_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="seed="):
        load_data("digits", seed=seed)


def test_digits_split():
    from sklearn.datasets import load_digits

    d = load_data("digits")
    assert (len(d.train), len(d.query), len(d.database)) == (500, 180, 1617)
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10 and d.topk is None
    assert d.y_query.sum(0).tolist() == [18] * 10 and d.y_train.sum(0).tolist() == [50] * 10
    assert d.y_database.dtype == np.uint8 and (d.y_database.sum(1) == 1).all()
    assert "seed=0" in d.protocol and "1,617" in d.protocol
    x, y = d.query[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and y.shape == (10,)
    assert np.array_equal(y.numpy(), d.y_query[0])
    # queries + database are exactly the data set (pixel / 16), each row with its label
    digits = load_digits()
    full = np.concatenate([d.arrays("query"), d.arrays("database")]) * 16
    labels = np.concatenate([d.y_query, d.y_database]).argmax(1)
    order = np.lexsort(np.column_stack([full, labels]).T)
    ref = np.lexsort(np.column_stack([digits.data, digits.target]).T)
    assert np.array_equal(full[order], digits.data[ref])
    assert np.array_equal(labels[order], digits.target[ref])
    # same seed, same split; another seed, another split
    again, other = load_data("digits", seed=0), load_data("digits", seed=1)
    assert np.array_equal(again.arrays("query"), d.arrays("query"))
    assert not np.array_equal(other.arrays("query"), d.arrays("query"))


def test_the_subpackage_offers_its_modules_names():
    from hashnet_lite.data import container, npz

    for name in ("ArrayDataset", "RetrievalData", "split_per_class", "split_arrays", "one_hot", "iterate_features"):
        assert getattr(D, name) is getattr(container, name)
    assert D.load_npz is npz.load_npz
