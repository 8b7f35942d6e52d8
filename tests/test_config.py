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
