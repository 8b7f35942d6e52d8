"""hashnet_lite.presets: the protocol table (PROTOCOLS), the presets, ``preset_for`` (any loaded
data set -> config and R) and ``shortened`` (a short run with the same schedules' shape)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from hashnet_lite.config import TrainConfig
from hashnet_lite.continuation import authors_beta
from hashnet_lite.presets import (
    PRESETS,
    PROTOCOLS,
    preset_config,
    preset_for,
    preset_name,
    shortened,
)


def test_protocols_table():
    assert {key: p.topk for key, p in PROTOCOLS.items() if p.in_paper} == {
        "imagenet100": 1000, "nuswide": 5000, "coco": 5000}
    for key, p in PROTOCOLS.items():
        if p.published is not None:
            assert sorted(p.published) == [16, 32, 48, 64] and all(0 < v < 1 for v in p.published.values())
            assert p.in_paper, key
    assert PROTOCOLS["imagenet100"].published[64] == 0.6835
    assert PROTOCOLS["cifar10"].topk is None and PROTOCOLS["digits"].topk is None


def test_presets_are_valid_configs_without_r():
    for name, fields in PRESETS.items():
        assert "topk" not in fields, name  # R lives in PROTOCOLS only
        config, topk = preset_config(name)
        assert isinstance(config, TrainConfig)
        assert topk == (PROTOCOLS[name].topk if name in PROTOCOLS else None)


def test_preset_config_overrides_and_errors():
    config, topk = preset_config("nuswide", bits=48, iters=None, seed=4)
    assert (config.bits, config.seed, config.iters, topk) == (48, 4, PRESETS["nuswide"]["iters"], 5000)
    with pytest.raises(ValueError, match="preset='mnist' is unknown"):
        preset_config("mnist")
    with pytest.raises(ValueError, match=r"unknown config fields \['colour'\]"):
        preset_config("digits", colour="red")


@pytest.mark.parametrize("spec, shape, preset, topk", [
    ("digits", (1, 8, 8), "digits", None),
    ("fashion-mnist:/data/fm", (1, 28, 28), "fashion-mnist", None),
    ("imagenet100:/data/in", (3, 224, 224), "imagenet100", 1000),
    ("coco", (3, 224, 224), "coco", 5000),
    ("npz:x.npz", (64,), "features", None),
    ("npz:x.npz", (1, 5, 6), "images", None),
    ("list:/data/mine", (3, 224, 224), "images", None),
])
def test_preset_for_any_loaded_data_set(spec, shape, preset, topk):
    data = SimpleNamespace(spec=spec, input_shape=shape)
    assert preset_name(spec.partition(":")[0], shape) == preset
    config, r = preset_for(data, bits=24, seed=2)
    want, want_topk = preset_config(preset, bits=24, seed=2)
    assert config == want and r == want_topk == topk


def test_preset_for_real_digits():
    from hashnet_lite.data import load_data

    config, topk = preset_for(load_data("digits"), bits=16)
    assert config.bits == 16 and config.backbone == "cnn" and topk is None


def test_preset_for_rejects_what_is_not_a_data_set():
    with pytest.raises(TypeError, match="no 'spec'"):
        preset_for(SimpleNamespace(input_shape=(3,)))
    with pytest.raises(TypeError, match="no 'input_shape'"):
        preset_for(SimpleNamespace(spec="digits"), bits=8)


def test_shortened_compresses_the_schedules():
    full = TrainConfig(iters=600, gamma=0.02, step_size=50, lr_step=200, epoch_step=20)
    short = shortened(full, 60)
    assert short.iters == 60 and short.gamma == pytest.approx(0.2)
    assert (short.step_size, short.lr_step, short.epoch_step) == (5, 20, 2)
    for fraction in (0.0, 0.5, 1.0):  # the same beta at the same fraction of training
        assert authors_beta(int(fraction * 60), gamma=short.gamma, step_size=short.step_size) == pytest.approx(
            authors_beta(int(fraction * 600), gamma=full.gamma, step_size=full.step_size))
    assert shortened(full, 600) == full
    with pytest.raises(ValueError, match="iters"):
        shortened(full, 0)


def test_every_data_set_record_is_complete():
    """One record per data set, read by load_data, the presets, the CLI and the report: each
    spec form parses to its kind, its preset (or the one its inputs select) makes a valid
    TrainConfig, and a seeded split's per-class sizes are the ones its protocol states."""
    from hashnet_lite.data import SPEC_FORMS, parse_data_spec
    from hashnet_lite.datasets import DATASETS
    from hashnet_lite.presets import PRESETS, PROTOCOLS, SHALLOW_INPUTS, preset_config

    assert set(SPEC_FORMS) == set(DATASETS) == set(PROTOCOLS) == set(SHALLOW_INPUTS)
    for kind, d in DATASETS.items():
        assert callable(d.load) and d.shallow_inputs in ("pixels", "features"), kind
        assert d.form.startswith(kind) and d.argument in ("none", "optional", "required"), kind
        example = {"none": kind, "optional": kind, "required": f"{kind}:somewhere"}[d.argument]
        assert parse_data_spec(example)[0] == kind
        p = d.protocol
        assert p.topk is None or (isinstance(p.topk, int) and p.topk > 0), kind
        if p.per_class is not None:
            n_train, n_query = p.per_class
            assert f"({n_train}/class)" in p.train and f"({n_query}/class)" in p.queries, kind
        if d.preset is not None:
            assert PRESETS[kind] == d.preset
            config, topk = preset_config(kind, bits=16)
            assert topk == p.topk and config.bits == 16


def test_a_loaded_split_follows_its_protocol():
    from hashnet_lite.data import load_data
    from hashnet_lite.datasets import DATASETS

    data = load_data("digits")
    n_train, n_query = DATASETS["digits"].protocol.per_class
    assert (len(data.train), len(data.query)) == (10 * n_train, 10 * n_query)
