"""ITQ and LSH: code format, ITQ's orthogonal rotation and its objective, retrieval quality
on sklearn's bundled digits (no download), determinism and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from hashnet_lite.baselines import ITQ, LSH
from hashnet_lite.retrieval import reference


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)  # 1797 x 64, shipped with scikit-learn
    query = np.arange(len(x)) % 9 == 0
    return x[~query], y[~query], x[query], y[query]


def _map_all(query_codes, db_codes, query_labels, db_labels):
    """mAP over the whole ranking by the definition; ties broken by database index."""
    return reference.mean_average_precision(query_codes, db_codes, query_labels, db_labels)


def _check_codes(codes, n, bits):
    assert codes.dtype == np.int8 and codes.shape == (n, bits)
    assert set(np.unique(codes)) <= {-1, 1}


@pytest.mark.parametrize("cls", [ITQ, LSH])
def test_codes_are_int8_plus_minus_one(cls, digits):
    x_db, _, x_q, _ = digits
    model = cls(16, seed=0).fit(x_db)
    _check_codes(model.encode(x_q), len(x_q), 16)
    _check_codes(model.encode(x_db), len(x_db), 16)


def test_lsh_is_random_hyperplanes_of_centred_data():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 7)) + 3.0
    lsh = LSH(12, seed=4).fit(x)
    w = np.random.default_rng(4).standard_normal((7, 12))
    assert np.array_equal(lsh.encode(x), np.where((x - x.mean(axis=0)) @ w >= 0, 1, -1).astype(np.int8))
    # a point exactly at the mean projects to 0, which codes as +1
    assert np.array_equal(lsh.encode(x.mean(axis=0, keepdims=True)), np.ones((1, 12), np.int8))


def test_itq_rotation_is_orthogonal(digits):
    x_db = digits[0]
    itq = ITQ(16, seed=0).fit(x_db)
    p = itq.projection_  # PCA directions (orthonormal columns) times the rotation R
    assert p.shape == (64, 16)
    assert np.allclose(p.T @ p, np.eye(16), atol=1e-10)
    # recover R from the top-16 principal directions: R = V16^T (V16 R)
    vt = np.linalg.svd(x_db - x_db.mean(axis=0), full_matrices=False)[2]
    rotation = vt[:16] @ p
    assert np.allclose(rotation.T @ rotation, np.eye(16), atol=1e-10)
    assert np.allclose(rotation @ rotation.T, np.eye(16), atol=1e-10)
    assert not np.allclose(np.abs(rotation), np.eye(16), atol=1e-3)  # a real rotation, not just PCA


def test_itq_quantization_loss_formula(digits):
    x_db = digits[0]
    itq = ITQ(16, seed=0).fit(x_db)
    v = (x_db - x_db.mean(axis=0)) @ itq.projection_
    expected = np.sum((np.where(v >= 0, 1.0, -1.0) - v) ** 2) / len(x_db)
    assert itq.quantization_loss(x_db) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_itq_lowers_its_objective_below_pca_with_a_random_rotation(digits, seed):
    x_db = digits[0]
    # the same seed gives the same random initial rotation: n_iter=0 is PCA + random rotation
    losses = [ITQ(16, n_iter=n, seed=seed).fit(x_db).quantization_loss(x_db) for n in (0, 1, 5, 20, 50)]
    assert all(b <= a + 1e-9 for a, b in zip(losses, losses[1:])), losses  # never increases
    assert losses[-1] < 0.99 * losses[0], losses


def test_itq_beats_lsh_at_map_on_digits(digits):
    x_db, y_db, x_q, y_q = digits
    itq = ITQ(16, seed=0).fit(x_db)
    lsh = LSH(16, seed=0).fit(x_db)
    map_itq = _map_all(itq.encode(x_q), itq.encode(x_db), y_q, y_db)
    map_lsh = _map_all(lsh.encode(x_q), lsh.encode(x_db), y_q, y_db)
    chance = np.mean([np.mean(y_db == label) for label in y_q])
    assert map_lsh > chance + 0.1
    assert map_itq > map_lsh + 0.1, (map_itq, map_lsh)


def test_code_lengths_above_the_dimension_work():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10))
    for cls in (ITQ, LSH):
        _check_codes(cls(24, seed=0).fit(x).encode(x), 200, 24)
    # fewer items than dimensions: at most N principal directions
    small = rng.normal(size=(5, 10))
    itq = ITQ(8, seed=0).fit(small)
    _check_codes(itq.encode(small), 5, 8)
    assert np.isfinite(itq.quantization_loss(small))
    # the lifted PCA map keeps the data's geometry: projection has orthonormal rows restricted to the PCs
    p = ITQ(24, seed=0).fit(x).projection_
    assert p.shape == (10, 24) and np.allclose(p @ p.T, np.eye(10), atol=1e-10)


@pytest.mark.parametrize("cls", [ITQ, LSH])
def test_deterministic_by_seed(cls, digits):
    x_db = digits[0]
    a = cls(16, seed=3).fit(x_db).encode(x_db)
    b = cls(16, seed=3).fit(x_db).encode(x_db)
    c = cls(16, seed=4).fit(x_db).encode(x_db)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", [ITQ, LSH])
def test_accepts_torch_and_does_not_mutate(cls, digits):
    x_db = digits[0][:300].copy()
    before = x_db.copy()
    from_numpy = cls(8, seed=0).fit(x_db).encode(x_db)
    assert np.array_equal(x_db, before)
    from_torch = cls(8, seed=0).fit(torch.from_numpy(x_db)).encode(torch.from_numpy(x_db))
    assert np.array_equal(from_numpy, from_torch)


@pytest.mark.parametrize("cls", [ITQ, LSH])
def test_errors(cls):
    for bits in (0, -3, 2.5, "16"):
        with pytest.raises(ValueError, match=f"bits={bits!r} is invalid"):
            cls(bits)
    model = cls(4)
    with pytest.raises(ValueError, match=r"x has shape \(10,\)"):
        model.fit(np.zeros(10))
    with pytest.raises(ValueError, match=r"x has shape \(0, 5\)"):
        model.fit(np.zeros((0, 5)))
    model.fit(np.random.default_rng(0).normal(size=(20, 5)))
    with pytest.raises(ValueError, match=r"x has shape \(2, 3, 4\)"):
        model.encode(np.zeros((2, 3, 4)))


def test_itq_n_iter_error():
    with pytest.raises(ValueError, match="n_iter=-1 is invalid"):
        ITQ(8, n_iter=-1)
