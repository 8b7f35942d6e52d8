"""Training and encoding on a CUDA GPU with mixed precision (skipped, with the reason,
where there is no GPU)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hashnet_lite.checkpoint import load_checkpoint_state
from hashnet_lite.config import TrainConfig
from hashnet_lite.model import build_model
from hashnet_lite.train import encode, resolve_device, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none on this machine")

CONFIG = TrainConfig(bits=16, backbone="mlp", hidden=64, batch_size=32, iters=40, lr=0.01, log_every=10,
                     checkpoint_every=10, step_size=10, gamma=0.1, device="cuda", amp=True, seed=0)


def _run(data, config, **kw):
    model = build_model(config, data.input_shape)  # weights drawn from config.seed
    history = train(model, data, config, progress=False, **kw)
    return model, history


@pytest.fixture(autouse=True)
def exact_matmuls():
    """TF32 would make CUDA-vs-CPU comparisons loose; restore the caller's setting after."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def test_auto_device_is_cuda():
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cuda:0") == torch.device("cuda:0")


@pytest.mark.parametrize("backbone,images", [("mlp", False), ("cnn", True)])
def test_amp_training_on_cuda(toy_data, make_data, backbone, images):
    data = make_data(d=64, images=True) if images else toy_data
    config = dataclasses.replace(CONFIG, backbone=backbone, hidden=32 if images else 64)
    model, history = _run(data, config)
    assert next(model.parameters()).device.type == "cuda"
    assert all(np.isfinite(rec["loss"]) for rec in history)
    assert history[-1]["loss"] < history[0]["loss"]
    codes = encode(model, data, device="cuda")
    assert codes.dtype == np.int8 and codes.shape == (len(data), 16)
    assert set(np.unique(codes)) <= {-1, 1}


def _z_cpu(model, data):
    model = model.to("cpu").eval()
    with torch.no_grad():
        return model.project(data.x).numpy()


def test_same_seed_twice_gives_the_same_codes(toy_data):
    a, hist_a = _run(toy_data, CONFIG)
    b, hist_b = _run(toy_data, CONFIG)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(va, vb, rtol=1e-4, atol=1e-5), k
    assert [r["loss"] for r in hist_a] == pytest.approx([r["loss"] for r in hist_b], rel=1e-4)
    codes_a, codes_b = encode(a, toy_data, device="cuda"), encode(b, toy_data, device="cuda")
    differ = codes_a != codes_b
    assert np.abs(_z_cpu(a, toy_data)[differ]).max(initial=0.0) < 1e-3  # only where z is ~0


def test_cuda_encoding_equals_cpu_encoding(toy_data):
    model, _ = _run(toy_data, CONFIG)
    gpu_codes = encode(model, toy_data, device="cuda")
    gpu_soft = encode(model, toy_data, device="cuda", continuous=True, beta=2.0)
    z = _z_cpu(model, toy_data)
    cpu_codes = encode(model, toy_data, device="cpu")
    cpu_soft = encode(model, toy_data, device="cpu", continuous=True, beta=2.0)
    differ = gpu_codes != cpu_codes
    assert differ.mean() < 0.01
    assert np.abs(z[differ]).max(initial=0.0) < 1e-4
    assert np.allclose(gpu_soft, cpu_soft, atol=1e-4)


def test_amp_resume_on_cuda_matches_uninterrupted(toy_data, tmp_path):
    full, full_history = _run(toy_data, CONFIG)
    path = tmp_path / "ck.pt"
    _run(toy_data, dataclasses.replace(CONFIG, iters=20), checkpoint=path)
    assert load_checkpoint_state(path)["scaler"]  # the GradScaler state is saved under amp
    resumed = build_model(dataclasses.replace(CONFIG, seed=123), toy_data.input_shape)  # other weights: replaced
    history = train(resumed, toy_data, CONFIG, progress=False, checkpoint=path, resume=True)
    for (k, va), vb in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(va, vb, rtol=1e-4, atol=1e-5), k
    assert [r["step"] for r in history] == [r["step"] for r in full_history]
