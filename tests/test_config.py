"""TrainConfig: validation names the field, the dict round trip, alpha's default."""
from __future__ import annotations

import dataclasses

import pytest

from hashnet_lite.config import TrainConfig


@pytest.mark.parametrize("change,field", [
    (dict(bits=0), "bits"), (dict(bits=2.5), "bits"), (dict(backbone="lenet"), "backbone"),
    (dict(schedule="linear"), "schedule"), (dict(weighting="focal"), "weighting"), (dict(iters=0), "iters"),
    (dict(batch_size=1), "batch_size"), (dict(lr=0.0), "lr"), (dict(step_size=0), "step_size"),
    (dict(epoch_step=0), "epoch_step"), (dict(lr_step=0), "lr_step"), (dict(beta0=0.0), "beta0"),
    (dict(alpha=-1.0), "alpha"), (dict(class_num=0.0), "class_num"), (dict(device="tpu"), "device"),
    (dict(log_every=0), "log_every"), (dict(checkpoint_every=0), "checkpoint_every"),
    (dict(dropout=1.0), "dropout"), (dict(dropout=-0.1), "dropout"), (dict(width=0), "width"),
    (dict(width=8.0), "width"),
    (dict(convs=2), "convs"), (dict(convs=7), "convs"), (dict(augment=1), "augment"), (dict(erase=-0.1), "erase"),
    (dict(erase=1.5), "erase"), (dict(erase="yes"), "erase"),
])
def test_config_validation_names_the_field(change, field):
    with pytest.raises(ValueError, match=rf"^{field}=.* is invalid: expected"):
        TrainConfig(**change)


def test_config_round_trip_and_alpha():
    config = TrainConfig(bits=48, backbone="resnet50", pretrained=True, alpha=0.5, weighting="class_num",
                         class_num=5.0, schedule="staircase", seed=7, dropout=0.0)
    data = config.to_dict()
    assert all(isinstance(v, (int, float, str, bool, type(None))) for v in data.values())
    assert TrainConfig.from_dict(data) == config
    assert config.alpha_value == 0.5
    assert TrainConfig(bits=48).alpha_value == pytest.approx(10 / 48)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.bits = 16
    with pytest.raises(ValueError, match=r"unknown keys \['colour', 'size'\]"):
        TrainConfig.from_dict({**data, "size": 1, "colour": "red"})
    assert TrainConfig.from_dict({"bits": 8}) == TrainConfig(bits=8)


def test_what_a_field_means_for_a_run_is_declared_once():
    """The sets that resume, run keys and the results' comparison use are derived from the
    fields' metadata; these are their values (a new field must be placed on purpose)."""
    from hashnet_lite.config import IDENTITY_FIELDS, LATE_FIELDS, RESUMABLE_FIELDS

    assert RESUMABLE_FIELDS == {"iters", "device", "num_workers", "checkpoint_every", "checkpoint_seconds",
                                "log_every"}
    assert set(LATE_FIELDS) == {"precision", "compile", "channels_last", "erase", "convs"}
    assert "iters" in IDENTITY_FIELDS and "device" not in IDENTITY_FIELDS
    assert set(IDENTITY_FIELDS) | RESUMABLE_FIELDS == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("precision, identity", [("bf16", {"amp": True}), ("fp32", {"amp": False}),
                                                 ("fp16", {"amp": True, "precision": "fp16"})])
def test_identity_writes_precision_as_run_keys_always_had_it(precision, identity):
    got = TrainConfig(precision=precision).identity()
    assert {k: got.get(k) for k in identity} == identity and ("precision" in got) == ("precision" in identity)
    assert "device" not in got and "compile" not in got  # outside the identity; late and at its default


def test_precision_is_one_choice():
    with pytest.raises(ValueError, match=r"precision='fp64' is invalid.*one of \('fp32', 'bf16', 'fp16'\)"):
        TrainConfig(precision="fp64")
    assert TrainConfig.from_dict({"amp": False, "precision": "fp16"}).precision == "fp32"


def test_a_stored_config_with_a_field_its_loss_never_used_still_loads():
    """Checkpoints made in Python before the refusal may hold e.g. a DHN run with
    weighting='none'; it changed nothing, so it is read as the default, with a warning."""
    stored = {**TrainConfig(method="DHN", schedule="constant").to_dict(), "weighting": "none", "alpha": 0.5}
    with pytest.warns(UserWarning, match="weighting='none', which that method never used"):
        config = TrainConfig.from_dict(stored)
    assert (config.method, config.weighting, config.alpha) == ("DHN", "paper", None)
