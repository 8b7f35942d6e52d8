"""The training loop: learning, history, schedules, optimizer groups, determinism, exact
resume, encoding, devices, errors (the checkpoint file itself: test_checkpoint.py; the config:
test_config.py)."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch
from helpers import TINY, assert_same_state, no_seconds, tiny_model, train_tiny

from hashnet_lite import checkpoint as checkpoint_module
from hashnet_lite import train as T
from hashnet_lite.checkpoint import load_checkpoint_state
from hashnet_lite.config import TrainConfig
from hashnet_lite.continuation import beta_at
from hashnet_lite.model import build_model
from hashnet_lite.train import (
    encode,
    fit,
    lr_at,
    make_optimizer,
    quantization_error,
    resolve_device,
    train,
)


def _hamming(codes):
    c = codes.astype(np.int32)
    return (c.shape[1] - c @ c.T) / 2


def test_training_learns_class_structure(toy_data):
    config = dataclasses.replace(TINY, iters=60, log_every=10)
    model, history = train_tiny(toy_data, config)
    losses = [rec["loss"] for rec in history]
    assert losses[0] == pytest.approx(np.log(2), abs=0.02)  # tiny hash-layer init: h ~ 0
    assert losses[-1] < 0.5 * losses[0]
    assert history[-1]["quantization_error"] < history[0]["quantization_error"]
    codes = encode(model, toy_data, device="cpu")
    dist = _hamming(codes)
    same = (toy_data.classes[:, None] == toy_data.classes[None]).numpy()
    off_diagonal = ~np.eye(len(codes), dtype=bool)
    within, between = dist[same & off_diagonal].mean(), dist[~same].mean()
    assert within < 0.25 * between, (within, between)


def test_training_on_multi_label_data(make_data):
    data = make_data(multi_label=True, seed=1)
    model, history = train_tiny(data, dataclasses.replace(TINY, iters=30))
    assert all(np.isfinite(rec["loss"]) for rec in history)
    assert history[-1]["loss"] < history[0]["loss"]


def test_history_fields_and_schedules(toy_data):
    config = dataclasses.replace(TINY, iters=23, log_every=4, lr_step=8, lr_decay=0.5)
    seen = []
    _, history = train_tiny(toy_data, config, callback=lambda step, logs: seen.append((step, dict(logs))))
    assert [rec["step"] for rec in history] == [4, 8, 12, 16, 20, 23]  # plus the last step
    steps_per_epoch = len(toy_data) // config.batch_size
    for rec in history:
        assert set(rec) == {"step", "loss", "beta", "lr", "quantization_error", "seconds"}
        assert rec["beta"] == pytest.approx(beta_at(rec["step"] - 1, config, steps_per_epoch))
        assert rec["lr"] == pytest.approx(lr_at(rec["step"] - 1, config))
        assert 0.0 <= rec["quantization_error"] <= 1.0
        assert rec["seconds"] >= 0
    assert [rec["seconds"] for rec in history] == sorted(rec["seconds"] for rec in history)
    # beta rises along the authors' schedule (step_size=10, gamma=0.1)
    assert history[0]["beta"] == 1.0 and history[-1]["beta"] == pytest.approx((1 + 0.1 * 20) ** 0.5)
    # the callback sees every step; history's loss is the mean since the previous record
    assert [s for s, _ in seen] == list(range(1, 24))
    assert history[0]["loss"] == pytest.approx(np.mean([logs["loss"] for _, logs in seen[:4]]))
    assert history[-1]["loss"] == pytest.approx(np.mean([logs["loss"] for _, logs in seen[20:]]))
    assert seen[7][1]["lr"] == pytest.approx(0.01) and seen[8][1]["lr"] == pytest.approx(0.005)


def test_staircase_schedule_uses_epochs(toy_data):
    config = dataclasses.replace(TINY, schedule="staircase", epoch_step=2, iters=20, log_every=1)
    _, history = train_tiny(toy_data, config)
    # 4 steps per epoch, beta steps up every 2 epochs = 8 steps
    assert [rec["beta"] for rec in history] == pytest.approx([(s // 8 + 1) ** 0.5 for s in range(20)])


def test_lr_at_step_decay():
    config = dataclasses.replace(TINY, lr=0.1, lr_step=5, lr_decay=0.5)
    assert [lr_at(s, config) for s in [0, 4, 5, 9, 10, 15]] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125])
    authors = TrainConfig(lr=0.003)
    assert lr_at(1999, authors) == pytest.approx(0.003) and lr_at(2000, authors) == pytest.approx(0.0015)
    assert lr_at(9999, authors) == pytest.approx(0.003 / 16)


def test_optimizer_groups_hash_layer_at_10x():
    config = dataclasses.replace(TINY, lr=0.02, momentum=0.8, weight_decay=1e-3)
    model = tiny_model(config)
    opt = make_optimizer(model, config)
    backbone_group, hash_group = opt.param_groups
    assert [id(p) for p in backbone_group["params"]] == [id(p) for p in model.backbone.parameters()]
    assert [id(p) for p in hash_group["params"]] == [id(model.hash_layer.weight), id(model.hash_layer.bias)]
    assert backbone_group["lr"] == pytest.approx(0.02) and hash_group["lr"] == pytest.approx(0.2)
    for g in opt.param_groups:
        assert g["momentum"] == 0.8 and g["weight_decay"] == 1e-3


def test_training_sets_group_lrs_each_step(toy_data, tmp_path):
    config = dataclasses.replace(TINY, iters=12, lr_step=10, lr=0.02, hash_lr_mult=10.0)
    train_tiny(toy_data, config, checkpoint=tmp_path / "ck.pt")
    groups = load_checkpoint_state(tmp_path / "ck.pt")["optimizer"]["param_groups"]
    # the last step (index 11) ran at lr_at(11) = 0.01: backbone 0.01, hash layer 0.1
    assert groups[0]["lr"] == pytest.approx(0.01) and groups[1]["lr"] == pytest.approx(0.1)


def test_quantization_error_formula():
    h = torch.tensor([[0.5, -0.25], [1.0, 0.0]])
    assert quantization_error(h) == pytest.approx((0.5 + 0.75 + 0.0 + 1.0) / 4)


def test_same_seed_same_model_different_seed_different(toy_data, as_retrieval_data):
    data = as_retrieval_data(toy_data)
    config = dataclasses.replace(TINY, iters=12)  # default dropout 0.2: dropout must be seeded too
    assert config.dropout > 0
    a, hist_a = fit(data, config, progress=False)
    b, hist_b = fit(data, config, progress=False)
    assert_same_state(a, b)
    assert no_seconds(hist_a) == no_seconds(hist_b)
    assert np.array_equal(encode(a, toy_data, device="cpu"), encode(b, toy_data, device="cpu"))
    c, _ = fit(data, dataclasses.replace(config, seed=1), progress=False)
    assert not torch.equal(a.hash_layer.weight, c.hash_layer.weight)
    assert not np.array_equal(encode(a, toy_data, device="cpu"), encode(c, toy_data, device="cpu"))


def test_seed_alone_changes_batches_and_dropout(toy_data):
    # same initial weights, different config.seed: the training itself must differ
    config = dataclasses.replace(TINY, iters=6)
    a = tiny_model(config, weights_seed=5)
    b = tiny_model(config, weights_seed=5)
    train(a, toy_data, config, progress=False)
    train(b, toy_data, dataclasses.replace(config, seed=9), progress=False)
    assert not torch.equal(a.hash_layer.weight, b.hash_layer.weight)


def test_callers_global_rng_is_left_alone(toy_data, as_retrieval_data):
    torch.manual_seed(1234)
    np.random.seed(4321)
    random.seed(99)
    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    model = build_model(TINY, (16,))
    torch_state = torch.get_rng_state()  # after the caller's own use of it
    train(model, toy_data, dataclasses.replace(TINY, iters=5), progress=False)
    fit(as_retrieval_data(toy_data), dataclasses.replace(TINY, iters=3), progress=False)
    encode(model, toy_data, device="cpu")
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    assert random.getstate() == py_state


@pytest.fixture
def uninterrupted(toy_data, tmp_path):
    """20 steps straight through (4 steps per epoch: resumes cross epoch boundaries)."""
    model, history = train_tiny(toy_data, TINY, checkpoint=tmp_path / "full.pt")
    return model, history


class Interrupt(Exception):
    pass


def test_resume_after_a_crash_equals_uninterrupted(toy_data, tmp_path, uninterrupted):
    full_model, full_history = uninterrupted
    path = tmp_path / "run.pt"

    def crash_at_13(step, logs):
        if step == 13:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_tiny(toy_data, TINY, checkpoint=path, callback=crash_at_13)
    assert load_checkpoint_state(path)["step"] == 10  # the last checkpoint before the crash
    model = tiny_model(TINY, weights_seed=777)  # any initial weights: the checkpoint replaces them
    history = train(model, toy_data, TINY, progress=False, checkpoint=path, resume=True)
    assert_same_state(model, full_model)
    assert no_seconds(history) == no_seconds(full_history)
    assert np.array_equal(encode(model, toy_data, device="cpu"), encode(full_model, toy_data, device="cpu"))
    # and the resumed run's optimizer state (momentum) equals the uninterrupted one's
    a, b = load_checkpoint_state(path)["optimizer"], load_checkpoint_state(tmp_path / "full.pt")["optimizer"]
    for k in b["state"]:
        assert torch.equal(a["state"][k]["momentum_buffer"], b["state"][k]["momentum_buffer"])


def test_resume_with_more_iters_equals_uninterrupted(toy_data, tmp_path, uninterrupted):
    full_model, full_history = uninterrupted
    path = tmp_path / "run.pt"
    train_tiny(toy_data, dataclasses.replace(TINY, iters=10), checkpoint=path)
    model = tiny_model(TINY)
    history = train(model, toy_data, TINY, progress=False, checkpoint=path, resume=True)
    assert_same_state(model, full_model)
    assert no_seconds(history) == no_seconds(full_history)
    assert load_checkpoint_state(path)["step"] == 20


def test_augment_false_trains_on_the_plain_items():
    from hashnet_lite.data import ArrayDataset

    def refuse(x):
        raise RuntimeError("augmentation was applied")

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 16, generator=g), torch.eye(4)[torch.arange(64) % 4]
    data = ArrayDataset(x, y, augment=refuse)
    config = dataclasses.replace(TINY, iters=3)
    with pytest.raises(RuntimeError, match="augmentation was applied"):
        train_tiny(data, config)
    model, history = train_tiny(data, dataclasses.replace(config, augment=False))
    assert len(history) == 1 and data.augment is refuse  # the caller's data set is left as it was
    plain = data.without_augmentation()
    assert plain.augment is None and torch.equal(plain[5][0], x[5])


def test_resume_of_a_finished_run_changes_nothing(toy_data, tmp_path):
    path = tmp_path / "run.pt"
    done, history = train_tiny(toy_data, TINY, checkpoint=path)
    model = tiny_model(TINY, weights_seed=3)
    again = train(model, toy_data, TINY, progress=False, checkpoint=path, resume=True)
    assert_same_state(model, done)
    assert again == history


def test_resume_without_a_file_starts_fresh(toy_data, tmp_path):
    config = dataclasses.replace(TINY, iters=6)
    path = tmp_path / "new.pt"
    fresh, _ = train_tiny(toy_data, config)
    model, _ = train_tiny(toy_data, config, checkpoint=path, resume=True)
    assert_same_state(model, fresh)
    assert path.is_file()


def test_checkpoint_every_controls_the_saves(toy_data, tmp_path, monkeypatch):
    saved_steps = []
    original = checkpoint_module.save_checkpoint

    def spy(path, model, config, **kw):
        saved_steps.append(kw["step"])
        original(path, model, config, **kw)

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", spy)
    train_tiny(toy_data, dataclasses.replace(TINY, iters=13, checkpoint_every=4), checkpoint=tmp_path / "c.pt")
    assert saved_steps == [4, 8, 12, 13]


def test_encode_binary_and_continuous(toy_data):
    model, _ = train_tiny(toy_data, dataclasses.replace(TINY, iters=10))
    codes = encode(model, toy_data, batch_size=50, device="cpu")  # 3 batches, the last one partial
    assert codes.dtype == np.int8 and codes.shape == (128, 16)
    assert set(np.unique(codes)) <= {-1, 1}
    with torch.no_grad():
        z = model.project(toy_data.x)
    assert np.array_equal(codes, model.codes(toy_data.x).numpy())
    soft = encode(model, toy_data, device="cpu", continuous=True, beta=3.0)
    assert soft.dtype == np.float32 and soft.shape == (128, 16)
    assert np.all(np.abs(soft) < 1)
    assert np.allclose(soft, torch.tanh(3.0 * z).numpy(), atol=1e-6)
    assert np.array_equal(np.where(soft >= 0, 1, -1), codes)
    empty = torch.utils.data.Subset(toy_data, [])
    assert encode(model, empty, device="cpu").shape == (0, 16)


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    for name in ["cuda", "cuda:1"]:
        with pytest.raises(ValueError, match=rf"device='{name}'.*no CUDA GPU"):
            resolve_device(name)
    with pytest.raises(ValueError, match="device='tpu' is invalid"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_train_errors(toy_data):
    model = tiny_model(TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="dataset has 1 items: expected at least 2"):
        train(model, torch.utils.data.Subset(toy_data, [0]), TINY, progress=False)
    with pytest.raises(ValueError, match="resume=True needs checkpoint="):
        train(model, toy_data, TINY, progress=False, resume=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])  # nothing was trained


def test_batch_larger_than_the_data_uses_the_whole_set(make_data):
    data = make_data(n=10)
    model, history = train_tiny(data, dataclasses.replace(TINY, batch_size=64, iters=3))
    assert len(history) == 1 and np.isfinite(history[0]["loss"])


def test_train_still_offers_the_checkpoint_functions():
    from hashnet_lite import checkpoint

    for name in ("load_model", "load_checkpoint_state", "save_checkpoint"):
        assert getattr(T, name) is getattr(checkpoint, name)


def test_encode_of_a_tensor_array_or_list_says_a_data_set_is_expected(toy_data):
    model = tiny_model()
    for inputs in (toy_data.x, toy_data.x.numpy(), toy_data.x.tolist()):
        with pytest.raises(TypeError, match=r"dataset=\w+ is invalid: expected a data set of \(x, y\) items.*"
                                            r"TensorDataset"):
            encode(model, inputs, device="cpu")
    wrapped = torch.utils.data.TensorDataset(toy_data.x, torch.zeros(len(toy_data.x)))  # what the message says
    assert np.array_equal(encode(model, wrapped, device="cpu"), encode(model, toy_data, device="cpu"))


def test_an_fp32_run_inside_the_callers_autocast_stays_fp32(toy_data):
    """The step sets its own arithmetic: a caller's bf16 autocast block does not leak into an
    fp32 run (the CPU always trains in fp32)."""
    _, plain = train_tiny(toy_data, TINY)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, inside = train_tiny(toy_data, TINY)
    assert [r["loss"] for r in inside] == [r["loss"] for r in plain]


def test_checkpoints_come_every_tenth_of_the_run_and_by_wall_time(tmp_path, monkeypatch):
    """A tenth of the run (at most 1,000 steps) unless checkpoint_every is set; and at logged
    steps once checkpoint_seconds have passed since the last one (0 here: every logged step)."""
    from hashnet_lite.data import load_data

    assert [TrainConfig(iters=n).checkpoint_interval for n in (5, 200, 600, 3000, 50_000)] == [1, 20, 60, 300, 1000]
    assert TrainConfig(iters=600, checkpoint_every=7).checkpoint_interval == 7
    saved = []
    original = checkpoint_module.save_checkpoint
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", lambda *a, **k: (saved.append(k["step"]), original(*a, **k)))
    config = TrainConfig(bits=8, backbone="mlp", hidden=16, iters=12, log_every=3, checkpoint_every=100,
                         checkpoint_seconds=0, device="cpu")
    fit(load_data("digits"), config, progress=False, checkpoint=tmp_path / "c.pt")
    assert saved == [3, 6, 9, 12]


def test_the_python_api_names_the_argument_and_the_expected_value(tmp_path):
    from helpers import write_npz

    from hashnet_lite.data import load_data

    with pytest.raises(ValueError, match=r"lr=inf is invalid: expected a positive finite number"):
        TrainConfig(lr=float("inf"))
    data = load_data(f"npz:{write_npz(tmp_path / 'a.npz', dim=12)}")
    with pytest.raises(TypeError, match=r"config=\{'bits': 16\}.*expected a TrainConfig"):
        fit(data, {"bits": 16})
    model, _ = fit(data, TrainConfig(bits=8, backbone="mlp", iters=2, device="cpu"), progress=False)
    other = load_data(f"npz:{write_npz(tmp_path / 'c.npz', dim=20)}")  # 20-d items for a model of 12-d ones
    with pytest.raises(ValueError, match=r"\(20,\).*\(12,\)"):
        encode(model, other.query)
