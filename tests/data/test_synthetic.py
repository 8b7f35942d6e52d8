"""hashnet_lite.data.synthetic: Gaussian clusters with many classes, split like the real data."""
from __future__ import annotations

import numpy as np
import pytest

from hashnet_lite.data.synthetic import gaussian_clusters


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
