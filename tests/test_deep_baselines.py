"""The deep baselines' losses (DHN, DPSH, DSH, CSQ) against brute-force loops over pairs."""
from __future__ import annotations

import inspect
import math

import pytest
import torch

from hashnet_lite.deep_baselines import (
    DEEP_BASELINES,
    baseline_loss,
    csq_loss,
    dhn_loss,
    dpsh_loss,
    dsh_loss,
    hash_centres,
    item_centres,
)

# ------------------------------------------------------------------ plain-Python references


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _similar(y_i, y_j) -> float:
    """1 when two label rows share a label (class ids: the same class), else 0."""
    if isinstance(y_i, (int, float)):
        return 1.0 if y_i == y_j else 0.0
    return 1.0 if any(a > 0 and b > 0 for a, b in zip(y_i, y_j)) else 0.0


def _dot(a, b) -> float:
    return sum(x * y for x, y in zip(a, b))


def _pairs(n):
    return [(i, j) for i in range(n) for j in range(n) if i != j]


def _dhn_reference(h, labels, alpha, penalty):
    h, y = h.tolist(), labels.tolist()
    pairs = _pairs(len(h))
    nll = 0.0
    for i, j in pairs:
        theta = alpha * _dot(h[i], h[j])
        nll += _softplus(theta) - _similar(y[i], y[j]) * theta
    quant = sum(math.log(math.cosh(abs(v) - 1.0)) for row in h for v in row) / len(h)
    return nll / len(pairs) + penalty * quant


def _dpsh_reference(u, labels, eta):
    u, y = u.tolist(), labels.tolist()
    pairs = _pairs(len(u))
    total = 0.0
    for i, j in pairs:
        theta = 0.5 * _dot(u[i], u[j])
        total -= _similar(y[i], y[j]) * theta - math.log1p(math.exp(theta))
    for row in u:
        total += eta * sum(((1.0 if v >= 0 else -1.0) - v) ** 2 for v in row)
    return total / len(pairs)


def _dsh_reference(u, labels, margin, reg):
    u, y = u.tolist(), labels.tolist()
    pairs = _pairs(len(u))
    total = 0.0
    for i, j in pairs:
        d = sum((a - b) ** 2 for a, b in zip(u[i], u[j]))
        s = _similar(y[i], y[j])
        total += 0.5 * s * d + 0.5 * (1.0 - s) * max(margin - d, 0.0)
    l1 = sum(abs(abs(v) - 1.0) for row in u for v in row) / len(u)
    return total / len(pairs) + reg * l1


def _csq_reference(h, c, lam):
    h, c = h.tolist(), c.tolist()
    bce = quant = 0.0
    n = 0
    for row_h, row_c in zip(h, c):
        for v, t in zip(row_h, row_c):
            p, t01 = (v + 1.0) / 2.0, (t + 1.0) / 2.0
            bce -= t01 * math.log(p) + (1.0 - t01) * math.log(1.0 - p)
            quant += math.log(math.cosh(abs(v) - 1.0))
            n += 1
    return bce / n + lam * quant / n


# ------------------------------------------------------------------ small batches

SINGLE = torch.tensor([0, 1, 0, 2, 1])  # B = 5, ties: items 0 and 2 share a class
MULTI = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=torch.float64)  # last: no label


def _codes(seed, n=5, k=4, scale=1.5):
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(n, k, generator=g, dtype=torch.float64)
    z[3] = z[1]  # a tie: two identical outputs
    return z


LABELS = pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])


@LABELS
@pytest.mark.parametrize("alpha,penalty", [(1.0, 0.1), (0.5, 0.0), (2.5, 3.0)])
def test_dhn_matches_brute_force(labels, alpha, penalty):
    h = torch.tanh(_codes(0))
    got = dhn_loss(h, labels, alpha=alpha, penalty=penalty)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(_dhn_reference(h, labels, alpha, penalty), rel=1e-12)


@LABELS
@pytest.mark.parametrize("eta", [10.0, 0.0, 0.3])
def test_dpsh_matches_brute_force(labels, eta):
    u = _codes(1)
    u[0, 0] = 0.0  # sign(0) := +1
    # rel 1e-10: torch's softplus returns theta itself above 20 (dropping exp(-theta) < 2e-9)
    assert dpsh_loss(u, labels, eta=eta).item() == pytest.approx(_dpsh_reference(u, labels, eta), rel=1e-10)


@LABELS
@pytest.mark.parametrize("margin,reg", [(None, 0.01), (3.0, 0.0), (50.0, 1.0)])
def test_dsh_matches_brute_force(labels, margin, reg):
    u = _codes(2)
    got = dsh_loss(u, labels, margin=margin, reg=reg)
    m = 2.0 * u.shape[1] if margin is None else margin
    assert got.item() == pytest.approx(_dsh_reference(u, labels, m, reg), rel=1e-12)


def test_dsh_margin_is_active_for_some_pairs_and_not_others():
    u = _codes(2)
    d = torch.cdist(u, u) ** 2
    off = ~torch.eye(5, dtype=torch.bool)
    assert (d[off] < 8).any() and (d[off] > 8).any()  # the default margin 2K = 8 splits the pairs


@LABELS
@pytest.mark.parametrize("lam", [0.001, 0.0, 2.0])
def test_csq_matches_brute_force(labels, lam):
    h = torch.tanh(_codes(3))
    targets = item_centres(labels, hash_centres(3, 4).double())
    assert csq_loss(h, targets, lam=lam).item() == pytest.approx(_csq_reference(h, targets, lam), rel=1e-12)


def test_pairwise_losses_at_zero_are_log2_plus_penalty():
    y = SINGLE
    zero = torch.zeros(5, 4, dtype=torch.float64)
    assert dhn_loss(zero, y, penalty=0.0).item() == pytest.approx(math.log(2.0))
    assert dhn_loss(zero, y).item() == pytest.approx(math.log(2.0) + 0.1 * 4 * math.log(math.cosh(1.0)))
    assert dpsh_loss(zero, y).item() == pytest.approx(math.log(2.0) + 10.0 * 5 * 4 / 20)


# ------------------------------------------------------------------ gradients


@LABELS
@pytest.mark.parametrize("name", ["DHN", "DPSH", "DSH", "CSQ"])
def test_gradient_matches_finite_differences(labels, name):
    z = _codes(4).requires_grad_(True)  # no output at 0 or +-1: every kink is away
    centres = hash_centres(3, 4).double()
    assert torch.autograd.gradcheck(lambda v: baseline_loss(name, v, labels, centres=centres), (z,))


def test_dpsh_codes_are_constants():
    u = _codes(5).requires_grad_(True)
    dpsh_loss(u, SINGLE, eta=1.0).backward()
    grad_full = u.grad.clone()
    u.grad = None
    dpsh_loss(u, SINGLE, eta=0.0).backward()
    # d/du eta ||b - u||^2 / 20 with b constant is 2 eta (u - sign u) / 20
    expected = 2.0 * (u.detach() - torch.where(u.detach() >= 0, 1.0, -1.0).double()) / 20
    assert torch.allclose(grad_full - u.grad, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["DHN", "DPSH", "DSH", "CSQ"])
def test_one_sgd_step_lowers_the_loss(name):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(8, 6, generator=g)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    layer = torch.nn.Linear(6, 8)
    with torch.no_grad():
        layer.weight.copy_(0.3 * torch.randn(8, 6, generator=g))
        layer.bias.zero_()
    centres = hash_centres(4, 8)
    before = baseline_loss(name, layer(x), y, centres=centres)
    layer.zero_grad()
    before.backward()
    with torch.no_grad():
        for p in layer.parameters():
            p -= 0.01 * p.grad
    after = baseline_loss(name, layer(x), y, centres=centres)
    assert after.item() < before.item()


# ------------------------------------------------------------------ hash centres


@pytest.mark.parametrize("classes,bits", [(10, 16), (32, 16), (3, 4), (2, 1), (8, 8)])
def test_hadamard_centres_are_half_the_bits_apart(classes, bits):
    c = hash_centres(classes, bits)
    assert c.shape == (classes, bits) and c.dtype == torch.float32
    assert bool(((c == 1) | (c == -1)).all())
    hamming = (c[:, None, :] != c[None, :, :]).sum(dim=2)  # (C, C)
    for i in range(classes):
        for j in range(classes):
            if i == j:
                assert hamming[i, j] == 0
            elif abs(i - j) == bits:  # a row and its negation ([H; -H])
                assert hamming[i, j] == bits
            else:
                assert hamming[i, j] == bits // 2
    assert hash_centres(classes, bits, seed=1).equal(c)  # Hadamard rows do not depend on the seed


@pytest.mark.parametrize("classes,bits", [(33, 16), (5, 12),
                                          pytest.param(100, 48, marks=pytest.mark.slow)])  # ~5 s a draw
def test_random_centres_are_seeded_signs(classes, bits):
    c = hash_centres(classes, bits, seed=3)
    assert c.shape == (classes, bits) and bool(((c == 1) | (c == -1)).all())
    assert hash_centres(classes, bits, seed=3).equal(c)
    assert not hash_centres(classes, bits, seed=4).equal(c)


@pytest.mark.parametrize("kwargs,match", [({"num_classes": 0, "bits": 8}, "num_classes=0"),
                                          ({"num_classes": 3, "bits": 0}, "bits=0"),
                                          ({"num_classes": 3.0, "bits": 8}, "num_classes=3.0"),
                                          ({"num_classes": 3, "bits": True}, "bits=True")])
def test_hash_centres_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hash_centres(**kwargs)


def test_item_centres_single_and_multi_label():
    c = hash_centres(3, 4)  # rows of H_4: [1,1,1,1], [1,-1,1,-1], [1,1,-1,-1]
    assert item_centres(torch.tensor([2, 0]), c).equal(c[[2, 0]])
    assert item_centres(torch.tensor([[0, 0, 1], [1, 0, 0]]), c).equal(c[[2, 0]])  # one-hot rows
    tie = item_centres(torch.zeros(1, 3), c, seed=7)[0]  # no label: every bit is a tie
    assert bool(((tie == 1) | (tie == -1)).all())
    assert item_centres(torch.zeros(1, 3), c, seed=7)[0].equal(tie)  # deterministic given the seed
    got = item_centres(torch.tensor([[1, 1, 1], [1, 1, 0]]), c, seed=7)
    assert got[0].tolist() == [1, 1, 1, -1]  # mean [1, 1/3, 1/3, -1/3]: no tie
    # mean of rows 0 and 1 = [1, 0, 1, 0]: bits 1 and 3 tie and take the tie vector's bits
    assert got[1].tolist() == [1, tie[1].item(), 1, tie[3].item()]


def test_item_centres_bad_labels():
    c = hash_centres(3, 4)
    with pytest.raises(ValueError, match=r"labels=\[3\]"):
        item_centres(torch.tensor([0, 3]), c)
    with pytest.raises(ValueError, match=r"labels has shape \(2, 4\)"):
        item_centres(torch.zeros(2, 4), c)
    with pytest.raises(ValueError, match=r"centres has shape \(4,\)"):
        item_centres(torch.tensor([0]), c[0])


# ------------------------------------------------------------------ registry and bad inputs


def test_registry_names_outputs_and_defaults():
    assert list(DEEP_BASELINES) == ["DHN", "DPSH", "DSH", "CSQ"]
    assert {n: m.output for n, m in DEEP_BASELINES.items()} == {"DHN": "tanh", "DPSH": "linear", "DSH": "linear",
                                                                "CSQ": "tanh"}
    for method in DEEP_BASELINES.values():  # the registry's defaults are the functions' own
        params = inspect.signature(method.loss).parameters
        assert {k: params[k].default for k in method.defaults} == dict(method.defaults)
        assert method.citation
    with pytest.raises(TypeError):
        DEEP_BASELINES["DHN"] = None


def test_baseline_loss_applies_the_activation_and_overrides():
    z, y = _codes(8), SINGLE
    assert baseline_loss("DHN", z, y).item() == pytest.approx(dhn_loss(torch.tanh(z), y).item(), rel=1e-12)
    assert baseline_loss("DSH", z, y, reg=0.5).item() == pytest.approx(dsh_loss(z, y, reg=0.5).item(), rel=1e-12)
    c = hash_centres(3, 4).double()
    assert baseline_loss("CSQ", z, y, centres=c).item() == pytest.approx(
        csq_loss(torch.tanh(z), c[y]).item(), rel=1e-12)


@pytest.mark.parametrize("call,match", [
    (lambda: baseline_loss("HashNetX", torch.zeros(4, 4), SINGLE[:4]), "name='HashNetX'"),
    (lambda: baseline_loss("DHN", torch.zeros(4, 4), SINGLE[:4], eta=1.0), r"hyper=\['eta'\]"),
    (lambda: baseline_loss("CSQ", torch.zeros(4, 4), SINGLE[:4]), "centres=None"),
    (lambda: dhn_loss(torch.zeros(4), SINGLE[:4]), r"h has shape \(4,\)"),
    (lambda: dhn_loss(torch.zeros(1, 4), SINGLE[:1]), r"h has shape \(1, 4\).*B >= 2"),
    (lambda: dpsh_loss(torch.zeros(4, 4), SINGLE), "labels has 5 rows but u has 4"),
    (lambda: dhn_loss(torch.zeros(5, 4), SINGLE, alpha=0.0), "alpha=0.0"),
    (lambda: dhn_loss(torch.zeros(5, 4), SINGLE, penalty=-1.0), "penalty=-1.0"),
    (lambda: dpsh_loss(torch.zeros(5, 4), SINGLE, eta=float("nan")), "eta=nan"),
    (lambda: dsh_loss(torch.zeros(5, 4), SINGLE, margin=0), "margin=0"),
    (lambda: dsh_loss(torch.zeros(5, 4), SINGLE, reg="0.01"), "reg='0.01'"),
    (lambda: csq_loss(torch.zeros(5, 4), torch.zeros(5, 4)), "targets has entries other than -1 and \\+1"),
    (lambda: csq_loss(torch.zeros(5, 4), torch.ones(5, 3)), r"targets has shape \(5, 3\) but h has \(5, 4\)"),
    (lambda: csq_loss(torch.zeros(5, 4), torch.ones(5, 4), lam=-0.1), "lam=-0.1"),
])
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_half_precision_outputs_give_a_float32_loss():
    z = _codes(9).float()
    for name in DEEP_BASELINES:
        got = baseline_loss(name, z.half(), SINGLE, centres=hash_centres(3, 4).half())
        assert got.dtype == torch.float32 and torch.isfinite(got)
