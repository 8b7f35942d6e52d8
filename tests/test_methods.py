"""The method registry and what the loop trains for each method."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import SyntheticHashData

from hashnet_lite import methods
from hashnet_lite.config import TrainConfig
from hashnet_lite.deep_baselines import baseline_loss, hash_centres
from hashnet_lite.loss import pairwise_likelihood_loss
from hashnet_lite.retrieval import mean_average_precision
from hashnet_lite.train import encode, train

DEEP = ("DHN", "DPSH", "DSH", "CSQ")


def test_the_registry_names_every_method_once():
    assert methods.NAMES == ("HashNet", "HashNet-W", "HashNet-sgn", "HashNet+C", "HashNet-nobin", "DHN", "DPSH",
                             "DSH", "CSQ", "ITQ", "LSH")
    assert set(methods.DEFAULT_METHODS) <= set(methods.NAMES)
    kinds = {m: methods.REGISTRY[m].kind for m in methods.NAMES}
    assert kinds["HashNet-nobin"] == "continuous" and kinds["ITQ"] == kinds["LSH"] == "shallow"
    assert all(kinds[m] == "trained" for m in ("HashNet", "HashNet-W", "HashNet-sgn", "HashNet+C", *DEEP))
    with pytest.raises(ValueError, match="unknown"):
        methods.check_methods(["HashNet", "hashnet"])
    with pytest.raises(ValueError, match="one or more"):
        methods.check_methods([])


@pytest.mark.parametrize("name", DEEP)
def test_a_deep_baseline_is_its_loss_without_continuation(name):
    config = TrainConfig(bits=16, class_num=3.0)
    cfg = methods.method_config(name, config)
    assert cfg.method == name and cfg.schedule == "constant"
    assert dataclasses.replace(cfg, method="HashNet", schedule=config.schedule) == config  # nothing else changes
    # the ablations of HashNet start from HashNet even when the preset names another loss
    assert methods.method_config("HashNet-W", cfg).method == "HashNet"


@pytest.mark.parametrize("name", ("HashNet", *DEEP))
def test_the_objective_is_the_methods_loss(name):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 8, generator=g, dtype=torch.float64)
    labels = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1, 2]), 3).double()
    config = methods.method_config(name, TrainConfig(bits=8, seed=5))
    objective = methods.Objective(config)  # no train_size: DPSH's eta is used as given
    net = lambda x, beta: x if beta is None else torch.tanh(beta * x)  # noqa: E731  the "network" is z itself
    out = objective.outputs(net, z, 2.0)
    loss, h = objective.loss(out, labels)
    if name == "HashNet":
        assert torch.equal(out, torch.tanh(2.0 * z))
        expected = pairwise_likelihood_loss(out, labels, alpha=config.alpha_value)
    else:
        assert torch.equal(out, z)
        centres = hash_centres(3, 8, seed=5) if name == "CSQ" else None
        expected = baseline_loss(name, z, labels, centres=centres)
    torch.testing.assert_close(loss, expected)
    assert h.shape == z.shape


def test_dpsh_keeps_the_papers_balance_of_pairs_and_penalty():
    z = torch.randn(10, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.nn.functional.one_hot(torch.arange(10) % 3, 3).float()
    config = methods.method_config("DPSH", TrainConfig(bits=8))
    scaled, _ = methods.Objective(config, train_size=500).loss(z, labels)
    expected = baseline_loss("DPSH", z, labels, eta=10.0 * 9 / 500)  # eta (B - 1) / N
    torch.testing.assert_close(scaled, expected)


@pytest.mark.parametrize("name", ("HashNet", *DEEP))
def test_every_trained_method_learns_codes_on_separable_data(name):
    data = SyntheticHashData(n=160, d=16, c=4, seed=0)
    config = methods.method_config(name, TrainConfig(bits=16, backbone="mlp", hidden=32, batch_size=32,
                                                     iters=150, lr=0.03, log_every=50, seed=0))
    from hashnet_lite.model import build_model

    model = build_model(config, (16,))
    history = train(model, data, config, progress=False)
    assert history[-1]["loss"] < history[0]["loss"]  # training lowers the method's own loss
    codes = encode(model, data)
    classes = data.classes.numpy()
    assert mean_average_precision(codes, codes, classes, classes) > 0.8  # chance is ~0.25
    assert set(np.unique(codes)) <= {-1, 1}


def test_loss_hyperparameters_name_what_each_run_uses():
    config = TrainConfig(bits=16)
    assert methods.loss_hyperparameters(config) == {"alpha": 10 / 16, "weighting": "paper",
                                                    "continuous_similarity": False}
    assert methods.loss_hyperparameters(methods.method_config("DHN", config)) == {"alpha": 1.0, "penalty": 0.1}
    dsh = dataclasses.replace(methods.method_config("DSH", config), quantization_weight=0.5)
    assert methods.loss_hyperparameters(dsh) == {"margin": None, "reg": 0.5}


@pytest.mark.parametrize("name, field, value", [("DHN", "weighting", "none"), ("DSH", "schedule", "staircase"),
                                                 ("CSQ", "continuous_similarity", True), ("DPSH", "alpha", 0.5)])
def test_a_field_the_method_ignores_is_refused_naming_the_method(name, field, value):
    with pytest.raises(ValueError, match=rf"{field}=.* is not used by method='{name}'"):
        methods.method_config(name, TrainConfig(bits=16, **{field: value}))


@pytest.mark.parametrize("method, field, value", [("DHN", "weighting", "class_num"), ("DSH", "gamma", None),
                                                   ("CSQ", "continuous_similarity", True), ("DPSH", "alpha", 0.5),
                                                   ("HashNet", "quantization_weight", 0.1)])
def test_a_config_refuses_a_field_its_loss_ignores(method, field, value):
    """In Python too, before any training: a HashNet-only field on a baseline's config, or a
    baseline's quantization weight on HashNet's. gamma is part of the schedule every method's
    preset shares, so it is accepted (a baseline's schedule is 'constant')."""
    if value is None:
        assert TrainConfig(method=method, schedule="constant", gamma=0.05).gamma == 0.05
        return
    with pytest.raises(ValueError, match=rf"{field}=.* is not used by method='{method}'"):
        TrainConfig(bits=16, method=method, **{field: value})


def test_a_baseline_may_say_it_has_no_continuation():
    assert TrainConfig(method="DHN", schedule="constant").schedule == "constant"
    with pytest.raises(ValueError, match="schedule='staircase' is not used by method='DHN'"):
        TrainConfig(method="DHN", schedule="staircase")


def test_the_cli_refuses_a_field_the_method_ignores(tmp_path):
    from hashnet_lite.cli import main

    code = main(["train", "--data", "digits", "--method", "DHN", "--weighting", "none", "--iters", "5",
                 "--device", "cpu", "--no-progress", "--out", str(tmp_path / "o")])
    assert code == 2 and not (tmp_path / "o" / "model.pt").exists()


def test_tuned_settings_apply_on_their_preset_only(monkeypatch, tmp_path):
    record = {"preset": "fashion-mnist", "chosen": {
        "DSH": {"lr_scale": 0.3, "hash_lr_mult": 1.0, "trade_off": 0.1, "trade_off_field": "quantization_weight"},
        "HashNet": {"lr_scale": 1.0, "hash_lr_mult": 10.0, "trade_off": 2.0, "trade_off_field": "alpha_scale"}}}
    path = tmp_path / "tuned.json"
    path.write_text(__import__("json").dumps(record))
    monkeypatch.setattr(methods, "TUNED_FILE", path)
    config = TrainConfig(bits=16, lr=0.01)
    dsh = methods.method_config("DSH", config, preset="fashion-mnist")
    assert (dsh.lr, dsh.hash_lr_mult, dsh.quantization_weight) == (pytest.approx(0.003), 1.0, 0.1)
    assert methods.method_config("DSH", config, preset="digits") == methods.method_config("DSH", config)
    for name in ("HashNet", "HashNet-W", "HashNet+C"):  # HashNet's choice holds for its ablations
        assert methods.method_config(name, config, preset="fashion-mnist").alpha == pytest.approx(2.0 * 10 / 16)


def test_a_row_made_before_the_tuned_settings_is_made_otherwise(monkeypatch, tmp_path):
    """The run key holds the preset's config; the tuned settings come on top of it, so a row
    whose config is not what its method gets now is refused (result_rows._config_moved)."""
    from hashnet_lite.result_rows import _config_moved

    base = TrainConfig(bits=16, lr=0.01)
    monkeypatch.setattr(methods, "TUNED_FILE", tmp_path / "none.json")  # nothing tuned yet
    row = {"method": "DSH", "bits": 16, "config": methods.method_config("DSH", base).to_dict()}
    assert not _config_moved(row, base, "fashion-mnist")
    path = tmp_path / "tuned.json"
    path.write_text(__import__("json").dumps({"preset": "fashion-mnist", "chosen": {"DSH": {
        "lr_scale": 0.3, "hash_lr_mult": 1.0, "trade_off": 0.1, "trade_off_field": "quantization_weight"}}}))
    monkeypatch.setattr(methods, "TUNED_FILE", path)
    assert _config_moved(row, base, "fashion-mnist") and not _config_moved(row, base, "digits")
    row["config"] = methods.method_config("DSH", base, preset="fashion-mnist").to_dict()
    assert not _config_moved(row, base, "fashion-mnist")


def test_a_by_bits_choice_replaces_the_methods_choice_at_that_length_only(monkeypatch, tmp_path):
    path = tmp_path / "tuned.json"
    path.write_text(__import__("json").dumps({"preset": "p", "chosen": {"DHN": {
        "lr_scale": 1.0, "hash_lr_mult": 10.0, "trade_off": 0.1, "trade_off_field": "quantization_weight"}},
        "by_bits": {"64": {"DHN": {"lr_scale": 0.1, "hash_lr_mult": 10.0, "trade_off": 0.03,
                                   "trade_off_field": "quantization_weight"}}}}))
    monkeypatch.setattr(methods, "TUNED_FILE", path)
    at32 = methods.method_config("DHN", TrainConfig(bits=32, lr=0.02), preset="p")
    at64 = methods.method_config("DHN", TrainConfig(bits=64, lr=0.02), preset="p")
    assert (at32.lr, at32.quantization_weight) == (pytest.approx(0.02), 0.1)
    assert (at64.lr, at64.quantization_weight) == (pytest.approx(0.002), 0.03)


def test_every_registered_method_is_complete():
    """One record per method, read by the loop, tune, the CLI and the plots: each deep baseline
    of deep_baselines.DEEP_BASELINES is a trained method of the registry, a loss a config
    accepts, a search entry of tune, and a line style of the figures."""
    from hashnet_lite import plots, tune
    from hashnet_lite.config import losses
    from hashnet_lite.deep_baselines import DEEP_BASELINES

    for name, m in methods.REGISTRY.items():
        assert m.summary and m.citation and m.kind in ("trained", "continuous", "shallow"), name
        assert {"color", "marker"} <= set(m.style) and plots.METHOD_STYLE[name] == dict(m.style), name
    for name, b in DEEP_BASELINES.items():
        assert methods.REGISTRY[name].kind == "trained" and ("method", name) in methods.REGISTRY[name].changes
        assert name in losses() and name in tune.TUNABLE and tune.AUTHORS[name] == b.authors
        assert tune.TRADE_OFFS[name] == ("quantization_weight", b.trade_offs)
        config = methods.method_config(name, TrainConfig(bits=16))
        assert config.method == name and methods.loss_hyperparameters(config) == dict(b.defaults)
    colours = [dict(m.style)["color"] + dict(m.style).get("linestyle", "-") for m in methods.REGISTRY.values()]
    assert len(set(colours)) == len(colours), "two methods would be drawn alike"


def test_a_baseline_record_refuses_a_trade_off_that_does_not_start_at_its_default():
    from hashnet_lite.deep_baselines import DEEP_BASELINES

    with pytest.raises(ValueError, match="trade_offs="):
        dataclasses.replace(DEEP_BASELINES["DSH"], trade_offs=(0.1, 0.01))
    with pytest.raises(ValueError, match="quantization_key='eta'"):
        dataclasses.replace(DEEP_BASELINES["DSH"], quantization_key="eta")
