"""The weighted pairwise likelihood (paper Eq. 4-5) against a brute-force double loop."""
from __future__ import annotations

import math

import pytest
import torch

from hashnet_lite.loss import as_label_matrix, pair_weights, pairwise_likelihood_loss, similarity


def _softplus(x: float) -> float:
    """log(1 + exp(x)) without overflow, in plain Python."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _brute_force(h, labels, alpha, weighting="paper", class_num=1.0, continuous=False):
    """sum_{i != j} f_ij w_ij (log(1+exp(theta_ij)) - s_ij theta_ij) / sum_{i != j} w_ij, one pair at
    a time; f_ij = 1, or with ``continuous`` c_ij (the squared cosine of the label rows) for similar
    pairs, times the constant that keeps the similar pairs' total weight (Eq. 5's c_ij)."""
    h = h.double().tolist()
    y = labels.tolist()
    n = len(h)
    pairs = []
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            dot = sum(a * b for a, b in zip(y[i], y[j]))
            s = 1.0 if dot > 0 else 0.0
            theta = alpha * sum(a * b for a, b in zip(h[i], h[j]))
            factor = 1.0
            if continuous:
                sq_i = sum(a * a for a in y[i]) or 1.0
                sq_j = sum(b * b for b in y[j]) or 1.0
                factor = dot * dot / (sq_i * sq_j) if dot != 0 else 1.0
            pairs.append((s, factor, _softplus(theta) - s * theta))
    n_all = len(pairs)
    n_sim = sum(s for s, _, _ in pairs)
    n_dis = n_all - n_sim
    def weight(s):
        if weighting == "paper":
            return n_all / n_sim if s else n_all / n_dis
        return (class_num if s else 1.0) if weighting == "class_num" else 1.0

    similar_total = sum(weight(s) for s, _, _ in pairs if s)
    similar_with_c = sum(weight(s) * f for s, f, _ in pairs if s)
    scale = similar_total / similar_with_c if continuous else 1.0
    num = den = 0.0
    for s, factor, nll in pairs:
        w = weight(s)
        num += (factor * scale if s else 1.0) * w * nll
        den += w
    return num / den


def _batch(seed=0, n=9, k=6, c=4, multi=True):
    g = torch.Generator().manual_seed(seed)
    h = torch.tanh(2 * torch.randn(n, k, generator=g))
    y = torch.zeros(n, c)
    y[torch.arange(n), torch.randint(0, c, (n,), generator=g)] = 1
    if multi:
        y[::3, 0] = 1  # extra label: items share class 0 with one another
        y[-1] = 0  # an item with no label at all
    return h, y


@pytest.mark.parametrize("weighting,class_num", [("paper", 1.0), ("class_num", 1.0), ("class_num", 5.0),
                                                 ("class_num", 100.0), ("none", 1.0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_matches_brute_force(weighting, class_num, seed):
    h, y = _batch(seed)
    alpha = 10.0 / h.shape[1]
    got = pairwise_likelihood_loss(h.double(), y, alpha=alpha, weighting=weighting, class_num=class_num)
    assert got.item() == pytest.approx(_brute_force(h, y, alpha, weighting, class_num), rel=1e-10)
    got32 = pairwise_likelihood_loss(h, y, alpha=alpha, weighting=weighting, class_num=class_num)
    assert got32.dtype == torch.float32
    assert got32.item() == pytest.approx(_brute_force(h, y, alpha, weighting, class_num), rel=1e-5)


def test_weightings_differ_on_an_imbalanced_batch():
    h, y = _batch(3, n=12, c=6, multi=False)
    values = {w: pairwise_likelihood_loss(h, y, alpha=1.0, weighting=w).item() for w in ("paper", "none")}
    values["class_num"] = pairwise_likelihood_loss(h, y, alpha=1.0, weighting="class_num", class_num=5.0).item()
    assert len({round(v, 6) for v in values.values()}) == 3


def test_class_ids_equal_one_hot_labels():
    h, _ = _batch(4, multi=False)
    ids = torch.tensor([0, 2, 1, 0, 3, 3, 1, 2, 0])
    one_hot = torch.nn.functional.one_hot(ids, 4).float()
    a = pairwise_likelihood_loss(h, ids, alpha=1.7)
    b = pairwise_likelihood_loss(h, one_hot, alpha=1.7)
    assert torch.allclose(a, b, rtol=0, atol=1e-7)


def test_similarity_multi_label_and_empty_rows():
    y = torch.tensor([[1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 1]], dtype=torch.float32)
    expected = torch.tensor([
        [1, 1, 0, 0, 1],
        [1, 1, 0, 0, 0],
        [0, 0, 1, 0, 1],
        [0, 0, 0, 0, 0],  # no label: similar to nothing, not even itself
        [1, 0, 1, 0, 1],
    ], dtype=torch.float32)
    assert torch.equal(similarity(y), expected)
    assert torch.equal(similarity(y[:2], y[2:]), expected[:2, 2:])
    # class ids against multi-hot rows
    assert torch.equal(similarity(torch.tensor([1, 2]), y), torch.tensor([[1., 1., 0., 0., 0.],
                                                                          [0., 0., 1., 0., 1.]]))


def test_label_matrix_from_ids():
    m = as_label_matrix(torch.tensor([2, 0]))
    assert torch.equal(m, torch.tensor([[0., 0., 1.], [1., 0., 0.]]))
    assert as_label_matrix(torch.tensor([1]), num_classes=4).shape == (1, 4)


def test_item_without_labels_counts_as_dissimilar_to_everyone():
    # two items, no labels: the only pairs are dissimilar, loss = softplus(theta)
    h = torch.tensor([[0.5, -0.25], [0.5, 0.75]])
    y = torch.zeros(2, 3)
    theta = 2.0 * (0.5 * 0.5 - 0.25 * 0.75)
    assert pairwise_likelihood_loss(h, y, alpha=2.0).item() == pytest.approx(_softplus(theta), rel=1e-6)


@pytest.mark.parametrize("weighting", ["paper", "class_num", "none"])
def test_loss_at_zero_codes_is_log2(weighting):
    _, y = _batch(5)
    h = torch.zeros(9, 6)
    got = pairwise_likelihood_loss(h, y, alpha=10.0, weighting=weighting, class_num=5.0)
    assert got.item() == pytest.approx(math.log(2.0), rel=1e-6)


def test_all_pairs_similar_or_dissimilar_is_finite():
    h, _ = _batch(6, multi=False)
    same = torch.zeros(9, 3)
    same[:, 1] = 1
    for y in (same, torch.eye(9)):
        for w in ("paper", "class_num", "none"):
            got = pairwise_likelihood_loss(h.double(), y, alpha=1.0, weighting=w)
            assert torch.isfinite(got)
            assert got.item() == pytest.approx(_brute_force(h, y, 1.0, "none"), rel=1e-10)


def test_no_overflow_for_huge_theta():
    g = torch.Generator().manual_seed(7)
    h = (50.0 * torch.randn(6, 8, generator=g)).requires_grad_(True)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    alpha = 40.0
    theta = alpha * (h @ h.T)
    assert theta.abs().max() > 1e4
    assert torch.isinf(torch.log(1 + torch.exp(theta.detach()))).any(), "the naive formula would overflow here"
    loss = pairwise_likelihood_loss(h, y, alpha=alpha)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0
    assert loss.item() == pytest.approx(_brute_force(h.detach(), torch.nn.functional.one_hot(y).float(), alpha),
                                        rel=1e-4)


@pytest.mark.parametrize("weighting", ["paper", "class_num", "none"])
def test_gradient_matches_finite_differences(weighting):
    h, y = _batch(8, n=6, k=4)
    h = h.double().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda v: pairwise_likelihood_loss(v, y, alpha=1.3, weighting=weighting, class_num=3.0), (h,))


def test_half_precision_input_gives_float32_loss():
    h, y = _batch(9)
    got = pairwise_likelihood_loss(h.half(), y, alpha=1.0)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(_brute_force(h.half().float(), y, 1.0), rel=1e-5)


def test_loss_is_invariant_to_batch_order():
    # distributed training gathers shards in rank order, which permutes the batch
    h, y = _batch(10)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    a = pairwise_likelihood_loss(h.double(), y, alpha=1.0)
    b = pairwise_likelihood_loss(h.double()[perm], y[perm], alpha=1.0)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_inputs_are_not_mutated():
    h, y = _batch(11)
    h0, y0 = h.clone(), y.clone()
    pairwise_likelihood_loss(h, y, alpha=1.0)
    assert torch.equal(h, h0) and torch.equal(y, y0)


def test_pair_weights_paper_values_and_mask():
    s = torch.tensor([[1., 1., 0.], [1., 1., 0.], [0., 0., 1.]])
    mask = ~torch.eye(3, dtype=torch.bool)
    w = pair_weights(s, "paper", mask=mask)
    # off-diagonal: 6 pairs, 2 similar, 4 dissimilar
    expected = torch.tensor([[0., 3., 1.5], [3., 0., 1.5], [1.5, 1.5, 0.]])
    assert torch.allclose(w, expected)
    assert torch.equal(pair_weights(s, "class_num", class_num=4.0, mask=mask),
                       torch.tensor([[0., 4., 1.], [4., 0., 1.], [1., 1., 0.]]))
    assert torch.equal(pair_weights(s, "none", mask=mask), mask.float())


def test_bad_shapes_and_options_are_errors():
    h, y = _batch(12)
    with pytest.raises(ValueError, match=r"h has shape \(54,\)"):
        pairwise_likelihood_loss(h.flatten(), y, alpha=1.0)
    with pytest.raises(ValueError, match="labels has 8 rows but h has 9"):
        pairwise_likelihood_loss(h, y[:8], alpha=1.0)
    with pytest.raises(ValueError, match=r"labels has shape \(9, 4, 1\)"):
        pairwise_likelihood_loss(h, y[..., None], alpha=1.0)
    with pytest.raises(ValueError, match="weighting='median'"):
        pairwise_likelihood_loss(h, y, alpha=1.0, weighting="median")
    with pytest.raises(ValueError, match="3 classes but labels_b has 4"):
        similarity(torch.zeros(2, 3), torch.zeros(2, 4))


# ---- continuous similarity (Eq. 5's c_ij; the authors' Caffe option continous_similarity)


@pytest.mark.parametrize("weighting,class_num", [("paper", 1.0), ("class_num", 5.0), ("none", 1.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_continuous_similarity_matches_brute_force(weighting, class_num, seed):
    h, y = _batch(seed)  # multi-label, with an item without labels
    alpha = 10.0 / h.shape[1]
    got = pairwise_likelihood_loss(h.double(), y, alpha=alpha, weighting=weighting, class_num=class_num,
                                   continuous_similarity=True)
    expected = _brute_force(h, y, alpha, weighting, class_num, continuous=True)
    assert got.item() == pytest.approx(expected, rel=1e-10)
    assert got.item() != pytest.approx(_brute_force(h, y, alpha, weighting, class_num), rel=1e-3)


def test_squared_label_cosine_values():
    from hashnet_lite.loss import squared_label_cosine
    y = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 0]], dtype=torch.float32)
    c = squared_label_cosine(y)
    assert c[0, 1].item() == pytest.approx(1 / 2)  # {a} vs {a, b}: cos^2 = 1/2
    assert c[1, 4].item() == pytest.approx(1.0)  # identical label sets
    assert c[0, 2].item() == 0.0 and c[3, 3].item() == 0.0  # no shared label; no label at all
    ids = torch.tensor([0, 1, 0])  # single label: c_ij = s_ij
    assert torch.equal(squared_label_cosine(ids), torch.tensor([[1., 0., 1.], [0., 1., 0.], [1., 0., 1.]]))


@pytest.mark.parametrize("weighting,class_num", [("paper", 1.0), ("class_num", 5.0), ("none", 1.0)])
def test_continuous_similarity_equals_hashnet_on_single_label_data(weighting, class_num):
    """HashNet+C is HashNet where c_ij = s_ij (single labels), and differs on multi-label batches."""
    h, _ = _batch(21)
    ids = torch.tensor([0, 1, 2, 0, 1, 2, 0, 3, 3])
    for labels in (ids, torch.nn.functional.one_hot(ids, 4).float()):
        a = pairwise_likelihood_loss(h.double(), labels, alpha=0.7, weighting=weighting, class_num=class_num)
        b = pairwise_likelihood_loss(h.double(), labels, alpha=0.7, weighting=weighting, class_num=class_num,
                                     continuous_similarity=True)
        assert b.item() == pytest.approx(a.item(), rel=1e-12)
    h, y = _batch(22)  # multi-label
    a = pairwise_likelihood_loss(h.double(), y, alpha=0.7, weighting=weighting, class_num=class_num)
    b = pairwise_likelihood_loss(h.double(), y, alpha=0.7, weighting=weighting, class_num=class_num,
                                 continuous_similarity=True)
    assert abs(a.item() - b.item()) > 1e-4


def test_continuous_similarity_off_is_the_default_and_bit_identical():
    h, y = _batch(13)
    for w in ("paper", "class_num", "none"):
        a = pairwise_likelihood_loss(h, y, alpha=1.3, weighting=w, class_num=2.0)
        b = pairwise_likelihood_loss(h, y, alpha=1.3, weighting=w, class_num=2.0, continuous_similarity=False)
        assert torch.equal(a, b)


def test_continuous_similarity_gradient_matches_finite_differences():
    h, y = _batch(14, n=6, k=4)
    h = h.double().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda v: pairwise_likelihood_loss(v, y, alpha=1.3, continuous_similarity=True), (h,))


def test_continuous_similarity_must_be_a_bool():
    h, y = _batch(15)
    with pytest.raises(ValueError, match="continuous_similarity='yes'"):
        pairwise_likelihood_loss(h, y, alpha=1.0, continuous_similarity="yes")
