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
                     checkpoint_every=10, step_size=10, gamma=0.1, device="cuda", precision="bf16", seed=0)


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
    missing = torch.cuda.device_count()  # one past the last GPU
    with pytest.raises(ValueError, match=rf"there is no GPU {missing}; this machine has {missing} "):
        resolve_device(f"cuda:{missing}")


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


def test_fp16_resume_on_cuda_matches_uninterrupted(toy_data, tmp_path):
    config = dataclasses.replace(CONFIG, precision="fp16")  # the one precision with a GradScaler
    full, full_history = _run(toy_data, config)
    path = tmp_path / "ck.pt"
    _run(toy_data, dataclasses.replace(config, iters=20), checkpoint=path)
    assert load_checkpoint_state(path)["scaler"]  # the GradScaler state is saved under fp16
    resumed = build_model(dataclasses.replace(config, seed=123), toy_data.input_shape)  # other weights: replaced
    history = train(resumed, toy_data, config, progress=False, checkpoint=path, resume=True)
    for (k, va), vb in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(va, vb, rtol=1e-4, atol=1e-5), k
    assert [r["step"] for r in history] == [r["step"] for r in full_history]


# ------------------------------------------------------------------ the device data path

def _images(n=96, augment=True):
    import functools

    from helpers import array_images

    from hashnet_lite.data.augment import random_crop_flip

    return array_images(n=n, augment=functools.partial(random_crop_flip, padding=2) if augment else None)


IMAGES = dataclasses.replace(CONFIG, backbone="cnn", width=4, hidden=16, batch_size=16, iters=24, log_every=4,
                             checkpoint_every=4)


def test_device_data_is_held_on_the_gpu_and_gives_the_cpu_batches():
    from hashnet_lite import batches as B

    data = _images(augment=False)
    assert B.use_device_data(data, torch.device("cuda"))
    held_gpu, held_cpu = B.DeviceData(data, "cuda"), B.DeviceData(data, "cpu")
    assert held_gpu.x.is_cuda and held_gpu.x.dtype == torch.uint8
    rows = torch.arange(0, 96, 5)
    xg, yg = held_gpu.batch(rows.cuda())
    xc, yc = held_cpu.batch(rows)
    assert torch.equal(xg.cpu(), xc) and torch.equal(yg.cpu(), yc)


def test_gpu_crop_equals_cpu_crop_for_the_same_draws():
    from hashnet_lite.data.augment import crop_torch

    x = torch.rand(32, 3, 9, 9)
    oy, ox, flips = torch.randint(0, 5, (32,)), torch.randint(0, 5, (32,)), torch.rand(32) < 0.5
    cpu = crop_torch(x, oy, ox, flips, 2)
    gpu = crop_torch(x.cuda(), oy.cuda(), ox.cuda(), flips.cuda(), 2)
    assert torch.equal(gpu.cpu(), cpu)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_resume_on_the_gpu_data_path_is_exact(tmp_path, precision):
    data = _images()
    config = dataclasses.replace(IMAGES, precision=precision)
    full = build_model(config, (1, 12, 12))
    full_history = train(full, data, config, progress=False)
    path = tmp_path / "ck.pt"
    part = build_model(config, (1, 12, 12))
    train(part, data, dataclasses.replace(config, iters=12), progress=False, checkpoint=path)
    assert bool(load_checkpoint_state(path)["scaler"]) == (precision == "fp16")  # bf16 needs no scaler
    resumed = build_model(dataclasses.replace(config, seed=5), (1, 12, 12))
    history = train(resumed, data, config, progress=False, checkpoint=path, resume=True)
    for (k, va), vb in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(va, vb, rtol=1e-4, atol=1e-5), k
    assert [r["loss"] for r in history] == pytest.approx([r["loss"] for r in full_history], rel=1e-4)
    assert history[-1]["loss"] < history[0]["loss"]


def test_bf16_steps_do_not_sync_with_the_host():
    import warnings

    data = _images()
    config = dataclasses.replace(IMAGES, iters=60, log_every=30, checkpoint_every=None, precision="bf16")
    model = build_model(config, (1, 12, 12))
    train(model, data, dataclasses.replace(config, iters=2), progress=False)  # cuDNN and allocator warm-up
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train(model, data, config, progress=False)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    print(f"{len(syncs)} synchronising calls in 60 steps, 2 logged")
    assert len(syncs) <= 12, [str(w.message)[:120] for w in syncs[:5]]


def test_channels_last_and_compile_train_like_eager_and_encode_like_the_cpu():
    """In fp32 (TF32 off) a compiled channels_last CNN ends close to the eager one: Inductor's
    fused kernels round differently, nothing else may differ."""
    data = _images(augment=False)
    config = dataclasses.replace(IMAGES, compile=True, dropout=0.0, precision="fp32")
    model = build_model(config, (1, 12, 12))
    train(model, data, config, progress=False)
    eager = build_model(config, (1, 12, 12))
    train(eager, data, dataclasses.replace(config, compile=False), progress=False)
    assert model.state_dict().keys() == eager.state_dict().keys()
    for (k, a), b in zip(model.state_dict().items(), eager.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), k
    assert not any("_orig_mod" in k for k in model.state_dict())  # the model itself was never wrapped
    gpu = encode(model, data, device="cuda")
    cpu = encode(model, data, device="cpu")
    assert (gpu != cpu).mean() < 0.01


def test_jpeg_lists_decode_on_the_gpu_like_on_the_cpu(tmp_path):
    """nvJPEG and libjpeg-turbo round their inverse DCTs differently, and the GPU resizes in
    float: a few grey levels at most."""
    from helpers import photo_list

    from hashnet_lite.batches import inference_batches
    from hashnet_lite.data.jpeg import EncodedImages, decode_batch, device_decodes_jpeg, pack_files

    assert device_decodes_jpeg(torch.device("cuda"))
    data = photo_list(tmp_path, n=8, train=False)
    gpu = torch.cat(list(inference_batches(data, 4, torch.device("cuda")))).cpu()
    cpu = torch.cat(list(inference_batches(data, 4, torch.device("cpu"), decode_on_device=True)))
    diff = (gpu - cpu).abs() * 255
    assert diff.max() <= 8 and diff.mean() < 1, (diff.max().item(), diff.mean().item())
    packed, _ = pack_files([EncodedImages(data)[i] for i in range(4)])
    torch.manual_seed(0)
    x = decode_batch(packed, torch.device("cuda"), resize=40, crop=32, train=True, flip=True)
    assert x.device.type == "cuda" and x.shape == (4, 3, 32, 32)


def test_training_on_jpeg_lists_decodes_on_the_gpu_and_resumes_exactly(tmp_path, monkeypatch):
    from helpers import photo_list

    from hashnet_lite.data import jpeg

    seen, real = [], jpeg.decode_batch

    def spy(*args, **kw):
        seen.append(args[1])
        return real(*args, **kw)

    monkeypatch.setattr(jpeg, "decode_batch", spy)
    data = photo_list(tmp_path, n=12)
    config = dataclasses.replace(IMAGES, bits=8, batch_size=4, iters=8, log_every=1, checkpoint_every=1)
    full = build_model(config, (3, 32, 32))
    full_history = train(full, data, config, progress=False)
    assert len(seen) == 8 and all(torch.device(d).type == "cuda" for d in seen)  # the default path on a GPU
    path = tmp_path / "ck.pt"
    train(build_model(config, (3, 32, 32)), data, dataclasses.replace(config, iters=5), progress=False,
          checkpoint=path)
    resumed = build_model(dataclasses.replace(config, seed=99), (3, 32, 32))
    history = train(resumed, data, config, progress=False, checkpoint=path, resume=True)
    for (k, va), vb in zip(full.state_dict().items(), resumed.state_dict().values()):  # cuDNN may use atomics
        assert torch.allclose(va, vb, rtol=1e-4, atol=1e-5), k
    assert [r["loss"] for r in history] == pytest.approx([r["loss"] for r in full_history], rel=1e-4)
