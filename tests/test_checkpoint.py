"""hashnet_lite.checkpoint: the file's format (plain data, loads with weights_only), the atomic
write, the config check of a resume (``check_resumable``), checkpoints older than new config
fields, and ``load_model``. The exact resume of training itself is in test_train.py."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import TINY, assert_same_state, tiny_model, train_tiny

import hashnet_lite

from hashnet_lite.checkpoint import (
    check_resumable,
    load_checkpoint_state,
    load_model,
    save_checkpoint,
)
from hashnet_lite.config import TrainConfig
from hashnet_lite.errors import CheckpointError
from hashnet_lite.model import build_model
from hashnet_lite.train import encode, train


def test_checkpoint_file_is_plain_data(toy_data, tmp_path):
    path = tmp_path / "sub" / "ck.pt"  # missing folders are created
    meta = {"input_shape": [16], "data": "synthetic", "num_classes": 4}
    model, history = train_tiny(toy_data, dataclasses.replace(TINY, iters=7), checkpoint=path, meta=meta)
    state = torch.load(path, weights_only=True)
    assert set(state) >= {"model", "optimizer", "step", "config", "history", "meta"}
    assert state["step"] == 7
    assert state["meta"] == meta
    assert state["history"] == history
    assert isinstance(state["config"], dict)
    assert TrainConfig.from_dict(state["config"]) == dataclasses.replace(TINY, iters=7)
    for k, v in model.state_dict().items():
        assert torch.equal(state["model"][k], v)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ck.pt"]  # no temporary files left
    loaded, config, loaded_meta = load_model(path)
    assert config == dataclasses.replace(TINY, iters=7) and loaded_meta == meta
    assert not loaded.training
    assert np.array_equal(encode(loaded, toy_data, device="cpu"), encode(model, toy_data, device="cpu"))


def test_atomic_write_keeps_the_old_checkpoint(toy_data, tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    model, _ = train_tiny(toy_data, dataclasses.replace(TINY, iters=5), checkpoint=path)
    before = path.read_bytes()
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")  # something reaches the disk, then the write fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, model, TINY, step=99)
    with pytest.raises(OSError, match="No space left"):  # also from inside the training loop
        train(model, toy_data, dataclasses.replace(TINY, iters=5), progress=False, checkpoint=path)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before
    assert load_checkpoint_state(path)["step"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no *.tmp left behind


def test_resume_with_a_different_config_is_an_error(toy_data, tmp_path):
    path = tmp_path / "ck.pt"
    train_tiny(toy_data, dataclasses.replace(TINY, iters=5), checkpoint=path)
    for change, field in [(dict(bits=8), "bits"), (dict(lr=0.5), "lr"), (dict(weighting="none"), "weighting"),
                          (dict(seed=1), "seed")]:
        config = dataclasses.replace(TINY, **change)
        model = build_model(config, (16,))
        with pytest.raises(ValueError, match=rf"different config \({field}: checkpoint"):
            train(model, toy_data, config, progress=False, checkpoint=path, resume=True)
    # iters, log_every, checkpoint_every, device may change
    config = dataclasses.replace(TINY, iters=6, log_every=3, checkpoint_every=2)
    train(tiny_model(config), toy_data, config, progress=False, checkpoint=path, resume=True)
    assert load_checkpoint_state(path)["step"] == 6


def test_resume_of_a_checkpoint_older_than_new_config_fields(toy_data, tmp_path):
    """A checkpoint written before `width` and `augment` existed resumes as their defaults."""
    full_model, _ = train_tiny(toy_data, TINY)  # 20 steps straight through
    path = tmp_path / "old.pt"
    train_tiny(toy_data, dataclasses.replace(TINY, iters=10), checkpoint=path)
    state = load_checkpoint_state(path)
    for added in ("width", "augment"):
        del state["config"][added]
    torch.save(state, path)
    model = tiny_model(TINY)
    train(model, toy_data, TINY, progress=False, checkpoint=path, resume=True)
    assert_same_state(model, full_model)
    with pytest.raises(ValueError, match=r"different config \(width: checkpoint 16 vs now 32"):
        train(tiny_model(TINY), toy_data, dataclasses.replace(TINY, width=32), progress=False,
              checkpoint=path, resume=True)


@pytest.mark.parametrize("old, precision", [({"amp": True}, "bf16"), ({"amp": False, "precision": "bf16"}, "fp32"),
                                              ({"amp": True, "precision": "fp16"}, "fp16")])
def test_a_checkpoint_with_the_old_amp_switch_resumes_as_one_precision(toy_data, tmp_path, old, precision):
    """Checkpoints written when mixed precision was an ``amp`` switch beside its low type load
    with the one ``precision`` they meant, and resume the run they came from."""
    config = dataclasses.replace(TINY, precision=precision)
    full_model, _ = train_tiny(toy_data, config)
    path = tmp_path / "old.pt"
    train_tiny(toy_data, dataclasses.replace(config, iters=10), checkpoint=path)
    state = load_checkpoint_state(path)
    del state["config"]["precision"]
    state["config"].update(old)
    torch.save(state, path)
    assert TrainConfig.from_dict(state["config"]).precision == precision
    model = tiny_model(config)
    train(model, toy_data, config, progress=False, checkpoint=path, resume=True)
    assert_same_state(model, full_model)


def test_check_resumable_names_the_first_changed_field():
    saved = TINY.to_dict()
    check_resumable(saved, TINY)
    check_resumable(saved, dataclasses.replace(TINY, iters=99, log_every=1, checkpoint_every=3, device="auto"))
    with pytest.raises(ValueError, match=r"different config \(bits: checkpoint 16 vs now 8"):
        check_resumable(saved, dataclasses.replace(TINY, bits=8))
    old = {k: v for k, v in saved.items() if k not in ("width", "augment")}  # written before those fields
    check_resumable(old, TINY)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint_state(tmp_path / "missing.pt")
    path = tmp_path / "nometa.pt"
    save_checkpoint(path, tiny_model(), TINY)
    assert load_checkpoint_state(path)["step"] == 0
    with pytest.raises(CheckpointError, match=r"no meta\['input_shape'\]") as info:
        load_model(path)
    assert isinstance(info.value, ValueError)  # callers catching ValueError keep working


# ---------------------------------------------------------------- checkpoints given to the Python API

def test_checkpoint_with_nan_weights_is_refused_at_load_and_encode(toy_data, tmp_path):
    path = tmp_path / "nan.pt"
    model = tiny_model()
    save_checkpoint(path, model, TINY, meta={"input_shape": [16]})
    state = load_checkpoint_state(path)
    state["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                      for k, v in state["model"].items()}
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"nan\.pt.*holds NaN or infinite weights \(backbone\."):
        load_model(path)
    with torch.no_grad():
        model.hash_layer.weight[0, 0] = float("inf")  # a model that diverged in memory
    with pytest.raises(ValueError, match=r"model holds NaN or infinite weights \(hash_layer\.weight\)"):
        encode(model, toy_data, device="cpu")


def test_checkpoint_records_the_package_version_and_warns_on_another(tmp_path, recwarn):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, tiny_model(), TINY, meta={"input_shape": [16]})
    assert torch.load(path, weights_only=True)["version"] == hashnet_lite.__version__
    load_model(path)
    assert not [w for w in recwarn if "hashnet_lite" in str(w.message)]  # same version: silent
    state = load_checkpoint_state(path)
    state["version"] = "0.0.1"
    torch.save(state, path)
    with pytest.warns(UserWarning, match=rf"written by hashnet_lite 0\.0\.1, this is {hashnet_lite.__version__}"):
        load_model(path)


class Payload:
    def __reduce__(self):
        return (print, ("this would run",))


def test_pickle_refusal_says_loading_could_run_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": Payload(), "config": {}, "step": 0}, path)
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert "evil.pt" in message and "is refused" in message and "loading them could run code" in message
    assert "print" in message  # the object torch refused
    assert "weights_only set to False" not in message and "Re-running" not in message


def test_resume_on_other_data_says_the_data_differ_before_the_config():
    """Other data select another preset (batch size, lr, augmentation): the message names the
    data, the cause, not the preset's fields."""
    fingerprint = {"spec": "npz:a.npz", "split_seed": None, "sizes": {"train": 40}, "sha256": "a" * 64}
    other = {**fingerprint, "spec": "npz:b.npz", "sha256": "b" * 64}
    with pytest.raises(CheckpointError, match=r"trained on different data \(checkpoint: npz:a\.npz") as info:
        check_resumable(TINY.to_dict(), dataclasses.replace(TINY, lr=0.5, batch_size=8),
                        saved_meta={"data_fingerprint": fingerprint}, meta={"data_fingerprint": other})
    assert "different config" not in str(info.value)
