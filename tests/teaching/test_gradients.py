"""hashnet_lite.teaching.gradients (notebook 02): sign and its surrogates (straight-through,
tanh), their gradients against autograd and finite differences, and the side-by-side training."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import small_config

from hashnet_lite.continuation import beta_at
from hashnet_lite.model import build_model
from hashnet_lite.teaching import gradients


def test_sign_maps_zero_to_plus_one_and_has_zero_gradient():
    z = torch.tensor([-1.5, -0.2, 0.0, 0.3, 2.0], requires_grad=True)
    b = gradients.sign(z)
    assert b.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    (b * torch.arange(5.0)).sum().backward()
    assert torch.equal(z.grad, torch.zeros(5))


def test_straight_through_passes_the_gradient_of_hardtanh():
    z = torch.tensor([-1.5, -1.0, -0.2, 0.0, 0.3, 1.0, 2.0], requires_grad=True)
    b = gradients.straight_through_sign(z)
    assert b.tolist() == [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    weights = torch.arange(1.0, 8.0)
    (b * weights).sum().backward()
    assert z.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]


@pytest.mark.parametrize("beta", [0.5, 1.0, 7.0])
def test_tanh_grad_is_autograds_derivative(beta):
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    torch.tanh(beta * x).sum().backward()
    np.testing.assert_allclose(gradients.tanh_grad(x.detach().numpy(), beta), x.grad.numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="beta"):
        gradients.tanh_grad(x.detach().numpy(), 0.0)


def test_vanishing_fraction_counts_beta_z_beyond_the_threshold_and_grows_with_beta():
    z = np.linspace(-1, 1, 2001)
    threshold = math.atanh(math.sqrt(0.99))  # ~2.99
    for beta in (1.0, 5.0, 20.0):
        assert gradients.vanishing_fraction(z, beta) == pytest.approx((np.abs(beta * z) > threshold).mean(), abs=1e-3)
    fractions = [gradients.vanishing_fraction(torch.from_numpy(z), b) for b in (1.0, 4.0, 8.0, 16.0)]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] > 0.75
    with pytest.raises(ValueError, match="rel"):
        gradients.vanishing_fraction(z, 1.0, rel=1.5)


def test_straight_through_bias_formulas_agree_with_finite_differences_and_autograd():
    sigma, target = 0.5, 0.5
    curves = gradients.straight_through_bias(np.array([-0.3, 0.0, 0.4, 1.0]), sigma=sigma, target=target)

    def objective(mu):  # F(mu) = P(z >= 0)(1 - t)^2 + P(z < 0)(1 + t)^2
        p = 0.5 * (1 + math.erf(mu / sigma / math.sqrt(2)))
        return p * (1 - target) ** 2 + (1 - p) * (1 + target) ** 2

    eps = 1e-5
    numeric = [(objective(m + eps) - objective(m - eps)) / (2 * eps) for m in curves["mu"]]
    np.testing.assert_allclose(curves["true"], numeric, rtol=1e-6)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(400_000, generator=g, dtype=torch.float64)
    for mu, expected in zip(curves["mu"], curves["straight_through"]):
        m = torch.tensor(mu, requires_grad=True)
        ((gradients.straight_through_sign(m + sigma * noise) - target) ** 2).mean().backward()
        assert m.grad.item() == pytest.approx(expected, abs=0.01)
    # the bias: at mu = 0.4 the estimator says "lower mu" while the loss keeps falling as mu grows
    assert curves["true"][2] < 0 < curves["straight_through"][2]


def test_every_estimator_model_starts_from_build_models_weights():
    config = small_config()
    reference = build_model(config, (16,))  # what train.fit trains, drawn from config.seed
    for name in gradients.ESTIMATORS:
        model = gradients.build_estimator_model(name, config, (16,))
        assert model.state_dict().keys() == reference.state_dict().keys()
        for (k, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
            assert torch.equal(a, b), (name, k)
    with pytest.raises(ValueError, match="estimator"):
        gradients.build_estimator_model("tanh2", config, (16,))


def test_binarized_model_gets_gradients_only_through_the_straight_through_estimator():
    config = small_config()
    x, labels = torch.randn(12, 16), torch.arange(12) % 3
    from hashnet_lite.loss import pairwise_likelihood_loss

    norms = {}
    for name in ("sign", "straight_through"):
        model = gradients.build_estimator_model(name, config, (16,))
        h = model(x, 3.0)
        assert set(h.unique().tolist()) <= {-1.0, 1.0}
        pairwise_likelihood_loss(h, labels, alpha=config.alpha_value).backward()
        norms[name] = sum(p.grad.abs().sum().item() for p in model.parameters())
    assert norms["sign"] == 0.0 and norms["straight_through"] > 0.0


def test_pre_activations_restore_the_training_mode(clusters):
    model = gradients.build_estimator_model("continuation", small_config(), clusters.input_shape)
    model.train()
    z = gradients.pre_activations(model, clusters.database, batch_size=64)
    assert model.training and z.shape == (len(clusters.database), 8) and z.dtype == np.float32
    with torch.no_grad():
        model.eval()
        expected = model.project(torch.from_numpy(clusters.arrays("database"))).numpy()
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)


def test_compare_estimators_sign_trains_nothing_and_continuation_learns(clusters):
    config = small_config(weight_decay=0.0, dropout=0.0)  # no weight decay: "sign" must not move at all
    rows = gradients.compare_estimators(clusters, config)
    by = {r["estimator"]: r for r in rows}
    assert [r["estimator"] for r in rows] == list(gradients.ESTIMATORS)
    assert by["sign"]["max_grad_norm"] == 0.0 and by["sign"]["weights_moved"] == 0.0
    assert by["sign"]["map_binary"] == by["sign"]["map_untrained"]
    assert math.isnan(by["sign"]["map_continuous"]) and by["sign"]["quantization_error"] == 0.0
    assert by["continuation"]["map_binary"] > by["continuation"]["map_untrained"] + 0.1
    assert by["tanh"]["final_beta"] == 1.0 and math.isnan(by["straight_through"]["final_beta"])
    assert by["continuation"]["final_beta"] == beta_at(config.iters - 1, config)
    assert len(by["tanh"]["grad_norms"]) == config.iters and by["tanh"]["max_grad_norm"] > 0
    assert len(by["tanh"]["losses"]) == config.iters
    assert np.mean(by["tanh"]["losses"][-10:]) == pytest.approx(by["tanh"]["history"][-1]["loss"])
    with pytest.raises(ValueError, match="estimators"):
        gradients.compare_estimators(clusters, config, ("sign", "nope"))
