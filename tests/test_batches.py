"""hashnet_lite.batches and data.augment: the device-held batch path against the DataLoader
path (same batches, same training, exact resume), the torch crop against the numpy crop,
the augmentation choices, and no host read per training step. The CUDA side of the same
checks is in test_cuda.py."""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import torch
from helpers import array_images as images
from helpers import assert_same_state

from hashnet_lite import batches as B
from hashnet_lite.checkpoint import load_checkpoint_state
from hashnet_lite.config import TrainConfig
from hashnet_lite.data.augment import augmentation, crop_padding, crop_torch, random_crop_flip, random_erase
from hashnet_lite.model import build_model
from hashnet_lite.train import train

CONFIG = TrainConfig(bits=8, backbone="cnn", width=4, hidden=16, batch_size=16, iters=24, lr=0.01, log_every=4,
                     step_size=4, gamma=0.1, device="cpu", seed=3)


def _draw(generator, seed, steps):
    out = []
    for step, x, y in generator:
        out.append((step, x.clone(), y.clone()))
        if len(out) == steps:
            return out
        torch.manual_seed(seed + step + 1)  # as the loop seeds each step before its batch


@pytest.mark.parametrize("uint8", [True, False])
@pytest.mark.parametrize("augment", [None, functools.partial(random_crop_flip, padding=2)])
def test_device_batches_equal_loader_batches(uint8, augment):
    data = images(uint8=uint8, augment=augment, index=np.arange(3, 80))  # parts share arrays by index
    for start in (0, 7):  # 77 items, batch 16: 4 steps an epoch, so 7 starts mid-epoch 1
        torch.manual_seed(100 + start)
        loader = _draw(B.loader_batches(data, start, seed=5, batch_size=16, device=torch.device("cpu")), 100, 10)
        torch.manual_seed(100 + start)
        held = _draw(B.device_batches(B.DeviceData(data, "cpu"), start, seed=5, batch_size=16), 100, 10)
        assert [s for s, _, _ in loader] == [s for s, _, _ in held] == list(range(start, start + 10))
        for (_, xa, ya), (_, xb, yb) in zip(loader, held):
            assert xa.dtype == xb.dtype == torch.float32
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_uint8_images_are_scaled_exactly_as_numpy_does():
    x = np.arange(256, dtype=np.uint8)
    assert np.array_equal(B.UINT8_TO_UNIT, np.divide(x, np.float32(255.0), dtype=np.float32))
    assert B.UINT8_TO_UNIT[0] == 0.0 and B.UINT8_TO_UNIT[255] == 1.0


def test_torch_crop_equals_numpy_crop_for_the_same_draws():
    torch.manual_seed(0)
    x = torch.rand(9, 3, 7, 5)
    for padding in (1, 3):
        torch.manual_seed(1)
        ref = random_crop_flip(x, padding=padding)  # CPU: the numpy gather
        torch.manual_seed(1)
        oy, ox = torch.randint(0, 2 * padding + 1, (9,)), torch.randint(0, 2 * padding + 1, (9,))
        flips = torch.rand(9) < 0.5
        assert torch.equal(crop_torch(x, oy, ox, flips, padding), ref)


def test_crop_moves_pixels_and_flip_mirrors():
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    same = crop_torch(x, torch.tensor([1]), torch.tensor([1]), torch.tensor([False]), padding=1)
    assert torch.equal(same, x)  # offset == padding: the image itself
    mirrored = crop_torch(x, torch.tensor([1]), torch.tensor([1]), torch.tensor([True]), padding=1)
    assert torch.equal(mirrored, x.flip(3))
    shifted = crop_torch(x, torch.tensor([0]), torch.tensor([1]), torch.tensor([False]), padding=1)
    assert torch.equal(shifted[0, 0, 0], torch.zeros(5)) and torch.equal(shifted[0, 0, 1:], x[0, 0, :4])


def test_crop_alone_never_flips():
    torch.manual_seed(0)
    x = torch.rand(200, 1, 6, 6)
    out = augmentation("crop", (1, 6, 6))(x)
    # a crop keeps each row's left-to-right order: never the mirror image of the input
    assert not any(torch.equal(out[i], x[i].flip(2)) for i in range(200))
    assert crop_padding(28, 28) == 2 and crop_padding(224, 224) == 16 and crop_padding(8, 8) == 1


def test_augmentation_names_are_checked():
    with pytest.raises(ValueError, match="augment='rotate'"):
        augmentation("rotate", (1, 8, 8))
    with pytest.raises(ValueError, match=r"items have shape \(64,\)"):
        augmentation("crop", (64,))
    with pytest.raises(ValueError, match="augment"):
        TrainConfig(augment="flip")


def _train(data, config, **kw):
    model = build_model(config, (1, 12, 12))
    history = train(model, data, config, progress=False, **kw)
    return model, history


@pytest.mark.parametrize("augment", [True, "crop", "crop-flip"])
def test_training_on_the_device_path_equals_the_loader_path(augment):
    data = images(augment=functools.partial(random_crop_flip, padding=2))
    config = dataclasses.replace(CONFIG, augment=augment)
    a, hist_a = _train(data, config, on_device=True)
    b, hist_b = _train(data, config, on_device=False)
    assert_same_state(a, b)
    assert [r["loss"] for r in hist_a] == [r["loss"] for r in hist_b]


def test_augment_choices_change_the_training():
    data = images()
    plain, _ = _train(data, dataclasses.replace(CONFIG, augment=True))  # npz-like: no augmentation of its own
    off, _ = _train(data, dataclasses.replace(CONFIG, augment=False))
    crop, _ = _train(data, dataclasses.replace(CONFIG, augment="crop"))
    assert_same_state(plain, off)
    assert not torch.equal(crop.hash_layer.weight, plain.hash_layer.weight)


def _assert_resume_is_exact(data, config, tmp_path, *, on_device: bool, full=None, full_history=None):
    """A run stopped at step 12 and resumed (into a model of other weights) ends where the
    uninterrupted run (``full``, trained here unless given) ends, with the same losses."""
    if full is None:
        full, full_history = _train(data, config, on_device=on_device)
    path = tmp_path / "ck.pt"
    _train(data, dataclasses.replace(config, iters=12), on_device=on_device, checkpoint=path)  # mid-epoch 2
    assert load_checkpoint_state(path)["step"] == 12
    resumed = build_model(dataclasses.replace(config, seed=99), (1, 12, 12))
    history = train(resumed, data, config, progress=False, on_device=on_device, checkpoint=path, resume=True)
    assert_same_state(full, resumed)
    assert [r["loss"] for r in history] == [r["loss"] for r in full_history]


def test_resume_on_the_device_path_is_exact(tmp_path):
    _assert_resume_is_exact(images(augment=functools.partial(random_crop_flip, padding=2)), CONFIG, tmp_path,
                            on_device=True)


def test_a_training_step_reads_nothing_back_unless_logged(monkeypatch):
    reads = []
    item = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda self: reads.append(1) or item(self))
    config = dataclasses.replace(CONFIG, iters=40, log_every=20)
    _train(images(), config, on_device=True)
    per_log = len(reads) / 2  # two logged steps
    assert 0 < per_log <= 4, len(reads)  # the loss, its running sum, the quantization error
    reads.clear()
    _train(images(), config, on_device=True, callback=lambda step, logs: None)
    assert len(reads) >= 40  # a callback gets every step's numbers: each step is read


def test_augment_names_need_array_images(toy_data):
    config = TrainConfig(bits=8, backbone="mlp", hidden=16, batch_size=16, iters=2, device="cpu", augment="crop")
    with pytest.raises(ValueError, match="augment=.crop. needs images"):
        train(build_model(config, toy_data.input_shape), toy_data, config, progress=False)


def test_device_data_is_used_for_arrays_on_the_cpu(toy_data):
    assert B.use_device_data(images(), torch.device("cpu"))
    assert not B.use_device_data(toy_data, torch.device("cpu"))  # not held in arrays: a DataLoader
    assert B.training_bytes(images(n=10)) == 10 * (144 + 4 * 4)


@pytest.mark.slow  # Inductor compiles C++ kernels
def test_compiled_backbone_trains_like_eager_and_is_eager_afterwards(toy_data):
    """torch.compile (Inductor, on the CPU here) of the backbone only: same state-dict keys,
    close to the eager run (fused kernels round differently), and eager again after train()
    so that encode() with other batch shapes compiles nothing."""
    config = TrainConfig(bits=8, backbone="mlp", hidden=16, batch_size=16, iters=12, log_every=4, device="cpu",
                         dropout=0.0, compile=True)
    compiled = build_model(config, toy_data.input_shape)
    train(compiled, toy_data, config, progress=False)
    eager = build_model(config, toy_data.input_shape)
    train(eager, toy_data, dataclasses.replace(config, compile=False), progress=False)
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    for (k, a), b in zip(compiled.state_dict().items(), eager.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-4), k
    assert not any("_orig_mod" in k for k in compiled.state_dict())  # the model itself was never wrapped
    with pytest.raises(ValueError, match="compile"):
        TrainConfig(compile="fastest")


def test_worker_processes_augment_each_batch_as_the_main_process_does():
    data = images(augment=functools.partial(random_crop_flip, padding=2))
    seeds = lambda step: 1000 + step  # noqa: E731
    main = _draw(B.loader_batches(data, 3, seed=5, batch_size=16, device=torch.device("cpu"), step_seed=seeds), 0, 6)
    workers = _draw(B.loader_batches(data, 3, seed=5, batch_size=16, device=torch.device("cpu"), num_workers=2,
                                     step_seed=seeds), 0, 6)
    for (sa, xa, ya), (sb, xb, yb) in zip(main, workers):
        assert sa == sb and torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.slow  # worker processes
def test_resume_through_loader_workers_is_exact(tmp_path):
    data = images(augment=functools.partial(random_crop_flip, padding=2))
    _assert_resume_is_exact(data, dataclasses.replace(CONFIG, num_workers=2), tmp_path, on_device=False)


def test_loader_workers_default_to_several_on_cuda_only():
    assert B.loader_workers(CONFIG, torch.device("cpu")) == 0
    assert B.loader_workers(dataclasses.replace(CONFIG, num_workers=3), torch.device("cpu")) == 3
    assert B.loader_workers(CONFIG, torch.device("cuda")) >= 1


def test_channels_last_on_the_cpu_only_when_asked():
    """config.channels_last=True runs the CPU's conv backbones in channels_last (oneDNN's
    faster kernels; the fashion-mnist preset asks for it): the same training up to rounding,
    the weights contiguous again afterwards; a late field, left out of run keys at its default."""
    from hashnet_lite.config import LATE_FIELDS

    data = images()
    default, _ = _train(data, CONFIG)
    seen = []
    model = build_model(CONFIG, (1, 12, 12))
    second = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][1]  # 4 channels in: a real test
    second.register_forward_pre_hook(lambda m, args: seen.append(
        args[0].is_contiguous(memory_format=torch.channels_last) and not args[0].is_contiguous()))
    train(model, data, dataclasses.replace(CONFIG, channels_last=True), progress=False)
    assert seen and all(seen)
    for (k, a), b in zip(default.state_dict().items(), model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-4), k
        assert b.is_contiguous(), k
    assert "channels_last" in LATE_FIELDS and TrainConfig().channels_last is None
    for bad in ("yes", 1):
        with pytest.raises(ValueError, match="channels_last"):
            TrainConfig(channels_last=bad)


def test_a_compile_mode_reaches_torch_compile(monkeypatch, toy_data):
    modes = []
    called = []

    def compiled(module, mode=None):
        modes.append(mode)
        return lambda x: (called.append(x.shape[0]), module(x))[1]

    monkeypatch.setattr(torch, "compile", compiled)
    for compile in (True, "reduce-overhead"):
        config = TrainConfig(bits=8, backbone="mlp", hidden=16, batch_size=16, iters=2, device="cpu", compile=compile)
        train(build_model(config, toy_data.input_shape), toy_data, config, progress=False)
    assert modes == ["default", "reduce-overhead"] and called == [16] * 4  # every step ran the compiled backbone


def test_a_copy_taken_during_a_compiled_run_is_its_own_model(toy_data):
    """The step calls a compiled view of the backbone; the model itself stays plain, so a
    snapshot (an EMA, a best-so-far copy) taken in a callback keeps its own weights."""
    import copy

    config = TrainConfig(bits=8, backbone="mlp", hidden=16, batch_size=16, iters=6, device="cpu", compile=True,
                         dropout=0.0, log_every=3)
    model = build_model(config, toy_data.input_shape)
    snapshots = []
    train(model, toy_data, config, progress=False,
          callback=lambda step, logs: snapshots.append(copy.deepcopy(model)) if step == 1 else None)
    x = torch.stack([toy_data[i][0] for i in range(4)])
    assert not torch.allclose(snapshots[0].project(x), model.project(x))
    assert not hasattr(model.backbone, "_orig_mod") and "forward" not in vars(model.backbone)


def _rectangle(mask: torch.Tensor):
    """(top, left, height, width) of the one axis-aligned rectangle that ``mask`` (H, W) is,
    or None if it is empty; fails if it is not one rectangle."""
    rows = mask.any(1).nonzero().flatten()
    if len(rows) == 0:
        return None
    cols = mask.any(0).nonzero().flatten()
    top, left = int(rows[0]), int(cols[0])
    h, w = int(rows[-1]) - top + 1, int(cols[-1]) - left + 1
    assert len(rows) == h and len(cols) == w and int(mask.sum()) == h * w  # one full rectangle
    return top, left, h, w


def test_random_erase_blanks_one_rectangle_per_chosen_image():
    x = torch.rand(400, 3, 20, 30) + 0.5  # no zeros of its own
    torch.manual_seed(0)
    out = random_erase(x, p=1.0)
    fractions, aspects, places = [], [], []
    for i in range(len(x)):
        zero = out[i] == 0
        assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])  # across the channels
        assert torch.equal(out[i][~zero], x[i][~zero])  # the rest untouched
        top, left, h, w = _rectangle(zero[0])
        fractions.append(h * w / 600)
        aspects.append(h / w)
        places.append((top, left, top + h, left + w))
    fractions, aspects, places = np.array(fractions), np.array(aspects), np.array(places)
    # placed anywhere it fits: some touch each edge, and the corners vary
    assert places[:, 0].min() == 0 and places[:, 1].min() == 0
    assert places[:, 2].max() == 20 and places[:, 3].max() == 30
    assert len(set(map(tuple, places[:, :2]))) > 200
    # area 2-33% of the image and aspect 0.3-3.3 before rounding the sides and clipping them
    # to the image (which only shrinks a side)
    assert fractions.min() >= 0.01 and fractions.max() <= 0.36
    assert aspects.min() >= 0.2 and aspects.max() <= 5.0
    assert 0.12 < fractions.mean() < 0.2  # mean of U(0.02, 0.33) is 0.175, less some clipping

    torch.manual_seed(0)
    assert torch.equal(random_erase(x, p=1.0), out)  # the same draws give the same rectangles
    torch.manual_seed(1)
    some = random_erase(x, p=0.5)
    erased = (some == 0).flatten(1).any(1).float().mean()
    assert 0.4 < erased < 0.6
    assert torch.equal(random_erase(x, p=0.0), x)


def test_erase_changes_the_training_and_resumes_exactly(tmp_path):
    data = images(augment=functools.partial(random_crop_flip, padding=2))
    config = dataclasses.replace(CONFIG, erase=0.5)
    plain, _ = _train(data, CONFIG, on_device=True)
    full, full_history = _train(data, config, on_device=True)
    assert not torch.equal(full.hash_layer.weight, plain.hash_layer.weight)
    loader, _ = _train(data, config, on_device=False)
    assert_same_state(full, loader)  # the same rectangles on both batch paths
    _assert_resume_is_exact(data, config, tmp_path, on_device=True, full=full, full_history=full_history)


def test_erase_needs_images_in_arrays(toy_data):
    config = TrainConfig(bits=8, backbone="mlp", hidden=16, batch_size=16, iters=2, device="cpu", erase=0.5)
    with pytest.raises(ValueError, match=r"erase=0.5 needs images held in arrays"):
        train(build_model(config, toy_data.input_shape), toy_data, config, progress=False)
    vectors = images().without_augmentation()
    vectors = type(vectors)(vectors.x.reshape(len(vectors.x), -1), vectors.y)
    with pytest.raises(ValueError, match=r"erase=0.5 blanks rectangles of images, but the items have shape \(144,\)"):
        train(build_model(config, (144,)), vectors, config, progress=False)


def test_erase_leaves_the_callers_generator_alone():
    config = dataclasses.replace(CONFIG, erase=0.5)
    model = build_model(config, (1, 12, 12))
    torch.manual_seed(5)
    state = torch.get_rng_state()
    train(model, images(augment=functools.partial(random_crop_flip, padding=2)), config, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
