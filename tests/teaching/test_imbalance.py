"""hashnet_lite.teaching.imbalance (notebook 04): similar and dissimilar pairs in a batch, and
the weights of Eq. 5, against counts by hand (the many-class data: tests/data/test_synthetic.py;
the figures: test_figures.py)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hashnet_lite.teaching import imbalance


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
