"""hashnet_lite.data.container: ArrayDataset (with DataLoader, workers, augmentation), the
seeded per-class split, one_hot, split_arrays and iterate_features."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from hashnet_lite.data.container import (
    ArrayDataset,
    iterate_features,
    one_hot,
    split_arrays,
    split_per_class,
)


def test_array_dataset_with_dataloader_sees_every_item_once():
    n = 1000
    x = torch.zeros(n, 1, 4, 4, dtype=torch.uint8)
    x[:, 0, 0, 0] = torch.arange(n) % 256
    x[:, 0, 0, 1] = torch.arange(n) // 256
    y = torch.from_numpy(one_hot(np.arange(n) % 7, 7))
    ds = ArrayDataset(x, y, index=np.arange(0, n, 2))  # the even items only
    seen = []
    for xb, yb in DataLoader(ds, batch_size=64, shuffle=True):
        assert xb.dtype == torch.float32 and yb.dtype == torch.float32
        assert xb.shape[1:] == (1, 4, 4) and yb.shape[1:] == (7,)
        ids = (torch.round(xb[:, 0, 0, 0] * 255) + 256 * torch.round(xb[:, 0, 0, 1] * 255)).long()
        assert torch.equal(yb.argmax(1), ids % 7)
        seen += ids.tolist()
    assert sorted(seen) == list(range(0, n, 2))
    assert torch.equal(ds[3][0], x[6].float() / 255)  # __getitem__ goes through the index
    sub = [b for b in DataLoader(Subset(ds, [0, 1, 2]), batch_size=2)]  # Subset forwards __getitems__
    assert [len(b[0]) for b in sub] == [2, 1]


def test_array_dataset_workers_and_float_inputs():
    x = torch.randn(100, 5)
    y = torch.from_numpy(one_hot(np.arange(100) % 3, 3))
    ds = ArrayDataset(x, y)
    xb = torch.cat([b[0] for b in DataLoader(ds, batch_size=32, num_workers=2)])
    assert torch.equal(xb, x)  # float inputs are passed through unchanged
    assert np.array_equal(ds.features(), x.numpy())


def test_array_dataset_shape_errors():
    with pytest.raises(ValueError, match="expected x"):
        ArrayDataset(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="expected x"):
        ArrayDataset(torch.zeros(3, 2), torch.zeros(3))


def test_split_per_class_sizes_disjointness_determinism():
    labels = np.repeat(np.arange(4), [30, 25, 40, 22])
    train, query, db = split_per_class(labels, 5, 10, seed=3)
    assert np.bincount(labels[query]).tolist() == [5] * 4
    assert np.bincount(labels[train]).tolist() == [10] * 4
    assert not set(query) & set(train) and not set(query) & set(db)
    assert set(train) <= set(db) and len(query) + len(db) == len(labels)
    again = split_per_class(labels, 5, 10, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, query, db), again))
    assert not np.array_equal(split_per_class(labels, 5, 10, seed=4)[1], query)
    train, query, db = split_per_class(labels, 5, 10, seed=3, database="rest_minus_train")
    assert len(train) + len(query) + len(db) == len(labels) and not set(train) & set(db)
    with pytest.raises(ValueError, match="class 3 has 22 items"):
        split_per_class(labels, 5, 20)


def test_one_hot():
    y = one_hot(np.array([2, 0, 2]), 4)
    assert y.dtype == np.uint8 and y.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]]


def test_split_arrays_and_iterate_features():
    x = torch.arange(60 * 4, dtype=torch.float32).view(60, 4)
    data = split_arrays("tiny", x, np.arange(60) % 3, seed=0, n_query=4, n_train=10, database="rest",
                        topk=None, name="tiny")
    assert (len(data.query), len(data.train), len(data.database)) == (12, 30, 48)
    assert data.input_shape == (4,) and data.num_classes == 3 and data.spec == "tiny"
    features = iterate_features(data.query, batch_size=5)  # 3 batches, the last one partial
    assert features.shape == (12, 4) and features.dtype == np.float32
    np.testing.assert_array_equal(features, data.arrays("query"))
    np.testing.assert_array_equal(data.y_query.argmax(1), (features[:, 0] // 4).astype(int) % 3)
