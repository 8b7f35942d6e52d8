"""Image list files decoded on the training device (data/jpeg.py), run on the CPU here with
torchvision's CPU decoder and resize; on a GPU nvJPEG and a float resize take their place
(tests/test_cuda.py compares the two where there is a GPU)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import assert_same_state, photo_list
from test_images import write_list_data

from hashnet_lite import load_data
from hashnet_lite.batches import inference_batches
from hashnet_lite.checkpoint import load_checkpoint_state
from hashnet_lite.config import TrainConfig
from hashnet_lite.data.images import ImageListDataset
from hashnet_lite.data import jpeg as J
from hashnet_lite.data.jpeg import EncodedImages, decode_batch, is_image_list, pack_files
from hashnet_lite.model import binarize, build_model
from hashnet_lite.train import encode, train

CPU = torch.device("cpu")
CONFIG = TrainConfig(bits=8, backbone="cnn", width=4, hidden=16, batch_size=4, iters=9, lr=0.01, log_every=1,
                     checkpoint_every=1, step_size=3, gamma=0.1, device="cpu", dropout=0.0, seed=0)


def both_paths(dataset, batch_size=2):
    decoded = torch.cat(list(inference_batches(dataset, batch_size, CPU, decode_on_device=True)))
    pil = torch.cat(list(inference_batches(dataset, batch_size, CPU, decode_on_device=False)))
    return decoded, pil


def test_files_of_every_format_decode_to_the_pil_paths_pixels(tmp_path):
    """PNG (RGB, grey, RGBA) decoded by PIL in the workers, JPEG by decode_jpeg: 3-channel
    images equal to PIL's under the test-time transform (upscaled: the resizes agree exactly)."""
    d = load_data(f"list:{write_list_data(tmp_path / 'lists')}")
    items = EncodedImages(d.database)
    assert [items[i][0].dim() for i in range(3)] == [3, 1, 3]  # e.png decoded, f.jpg bytes, a.png decoded
    for part in (d.train.without_augmentation(), d.query, d.database):
        decoded, pil = both_paths(part)
        assert decoded.shape == pil.shape and decoded.dtype == torch.float32
        assert torch.equal(decoded, pil)


def test_formats_nvjpeg_cannot_read_are_decoded_by_pil(tmp_path, monkeypatch):
    """BMP, TIFF, 16-bit PNG, an animated GIF and a CMYK JPEG: what PIL reads, the device
    path reads to the same pixels. When the batched decode_jpeg fails (nvJPEG refuses CMYK),
    each file is tried alone and PIL decodes the one the device cannot."""
    from PIL import Image

    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8))
    rgb.save(tmp_path / "a.bmp")
    rgb.save(tmp_path / "b.tif")
    Image.fromarray(rng.integers(0, 65536, (30, 20), dtype=np.uint16)).save(tmp_path / "c.png")
    frames = [Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).convert("P") for _ in range(2)]
    frames[0].save(tmp_path / "d.gif", save_all=True, append_images=frames[1:])
    rgb.convert("CMYK").save(tmp_path / "e.jpg")
    rgb.save(tmp_path / "f.jpg")
    paths = [tmp_path / n for n in ("a.bmp", "b.tif", "c.png", "d.gif", "e.jpg", "f.jpg")]
    data = ImageListDataset(paths, np.eye(2, dtype=np.uint8)[[0, 1, 0, 1, 0, 1]], train=False, resize=40, crop=32)
    decoded, pil = both_paths(data, batch_size=6)
    assert torch.equal(decoded, pil)

    import torchvision

    real, calls = torchvision.io.decode_jpeg, []

    def nvjpeg_like(files, **kw):  # refuses a batch holding the CMYK file, and that file alone
        calls.append(len(files))
        if any(f.numel() == len(paths[4].read_bytes()) for f in files):
            raise RuntimeError("nvjpegDecode failed: the CMYK JPEG")
        return real(files, **kw)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", nvjpeg_like)
    fallback, _ = both_paths(data, batch_size=6)
    assert calls == [2, 1, 1] and torch.equal(fallback, pil)


@pytest.mark.slow  # a child process with DataLoader workers
def test_a_batch_returns_from_a_worker_as_one_tensor(tmp_path):
    """One shared-memory block per batch: a tensor per file ran out of file descriptors (and
    hung) at batch 512 with 8 workers under the common limit of 1,024 open files. Here 2
    workers and batches of 64 under a limit of 64 files."""
    import subprocess
    import sys
    import textwrap

    data = photo_list(tmp_path / "img", n=130, train=False)
    (packed, labels) = pack_files([EncodedImages(data)[i] for i in range(3)])
    assert isinstance(packed[0], torch.Tensor) and packed[0].dim() == 1 and len(packed[1]) == 3
    assert [t.shape for t in J.unpack_files(packed)] == [EncodedImages(data)[i][0].shape for i in range(3)]
    script = textwrap.dedent(f"""
        import resource, sys, numpy as np, torch
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        from pathlib import Path
        from hashnet_lite.batches import inference_batches
        from hashnet_lite.data.images import ImageListDataset
        paths = sorted(Path({str(tmp_path / 'img')!r}).glob("*.jpg"))
        data = ImageListDataset(paths, np.zeros((len(paths), 2), np.uint8), train=False, resize=40, crop=32)
        n = sum(len(x) for x in inference_batches(data, 64, torch.device("cpu"), decode_on_device=True, num_workers=2))
        print(n)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0 and out.stdout.split()[-1] == "130", out.stderr[-2000:]


def test_a_device_without_jpeg_decoding_keeps_pil(monkeypatch):
    import torchvision

    J.device_decodes_jpeg.cache_clear()
    assert J.device_decodes_jpeg(CPU)

    def no_decoder(*args, **kw):
        raise RuntimeError("torchvision not compiled with nvJPEG")

    monkeypatch.setattr(torchvision.io, "decode_jpeg", no_decoder)
    J.device_decodes_jpeg.cache_clear()
    with pytest.warns(UserWarning, match="decoded by PIL"):
        assert not J.device_decodes_jpeg(CPU)
    J.device_decodes_jpeg.cache_clear()


def test_device_decoding_needs_an_image_list_and_a_crop_that_fits(tmp_path):
    with pytest.raises(TypeError, match="not an image list"):
        list(inference_batches(torch.utils.data.TensorDataset(torch.zeros(4, 2)), 2, CPU, decode_on_device=True))
    with pytest.raises(ValueError, match="crop=48, resize=40"):
        photo_list(tmp_path, n=1, resize=40, crop=48)


def test_downscaled_photos_are_within_one_grey_level_of_pil(tmp_path):
    decoded, pil = both_paths(photo_list(tmp_path, train=False))
    diff = (decoded - pil).abs() * 255
    assert diff.max() <= 1.0 + 1e-3  # antialiased bilinear in torch vs PIL: rounding only
    assert diff.mean() < 0.1


def test_training_crops_are_windows_of_the_resized_image(tmp_path):
    """Each training item is the crop x crop window of the resized image (the test-time
    transform with crop = resize gives that image) at offsets drawn from the device's
    generator in [0, resize - crop], mirrored with probability 1/2 if the data set flips."""
    data = photo_list(tmp_path, n=16, crop=32)
    full = ImageListDataset(data.paths, data.labels, train=False, resize=40, crop=40)
    whole = torch.cat(list(inference_batches(full, 16, CPU, decode_on_device=True)))
    packed, _ = pack_files([EncodedImages(data)[i] for i in range(len(data))])
    for flip in (True, False):
        torch.manual_seed(3)
        x = decode_batch(packed, CPU, resize=40, crop=32, train=True, flip=flip)
        torch.manual_seed(3)  # the same draws, in decode_batch's order
        top, left = torch.randint(0, 9, (16,)), torch.randint(0, 9, (16,))
        flips = torch.rand(16) < 0.5 if flip else torch.zeros(16, dtype=torch.bool)
        for i in range(len(data)):
            window = whole[i][:, top[i]:top[i] + 32, left[i]:left[i] + 32]
            assert torch.equal(x[i], window.flip(2) if flips[i] else window), i
        assert flips.any() == flip and not flips.all()
    assert {0, 8} <= set(top.tolist()) | set(left.tolist())  # both ends of the range drawn


def test_resume_through_device_decoding_is_exact(tmp_path):
    data = photo_list(tmp_path, n=12)

    def run(config, **kw):
        model = build_model(config, (3, 32, 32))
        return model, train(model, data, config, progress=False, on_device=True, **kw)

    full, full_history = run(CONFIG)
    path = tmp_path / "ck.pt"
    run(dataclasses.replace(CONFIG, iters=5), checkpoint=path)  # stops inside epoch 2 (3 steps each)
    assert load_checkpoint_state(path)["step"] == 5
    resumed = build_model(dataclasses.replace(CONFIG, seed=99), (3, 32, 32))
    history = train(resumed, data, CONFIG, progress=False, on_device=True, checkpoint=path, resume=True)
    assert_same_state(full, resumed)
    assert [r["loss"] for r in history] == [r["loss"] for r in full_history]
    # the files read in 2 worker processes: the same batches
    workers, _ = run(dataclasses.replace(CONFIG, num_workers=2))
    assert_same_state(full, workers)
    # the PIL path trains on other crops (another generator), to a different model
    pil = build_model(CONFIG, (3, 32, 32))
    train(pil, data, CONFIG, progress=False, on_device=False)
    assert not torch.equal(pil.hash_layer.weight, full.hash_layer.weight)


def test_encode_decodes_on_the_device_on_cuda_only(tmp_path, monkeypatch):
    data = photo_list(tmp_path, train=False)
    model = build_model(CONFIG, (3, 32, 32))
    assert is_image_list(data) and not is_image_list(torch.utils.data.TensorDataset(torch.zeros(2)))
    seen = []
    real = decode_batch

    def spy(*args, **kw):
        seen.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr("hashnet_lite.data.jpeg.decode_batch", spy)
    codes = encode(model, data, batch_size=3, device="cpu")  # the CPU: PIL, as before
    assert not seen
    with torch.no_grad():
        z = torch.cat([model.project(x) for x in inference_batches(data, 3, CPU, decode_on_device=True)])
    assert len(seen) == 3 and seen[0] == dict(resize=40, crop=32, train=False, flip=False)
    assert (binarize(z).numpy() == codes).mean() > 0.95  # pixels within one grey level of PIL's


@pytest.mark.parametrize("name, flips", [("crop", False), ("crop-flip", True)])
def test_the_named_augmentation_reaches_the_device_decoder(tmp_path, monkeypatch, name, flips):
    seen, real = [], decode_batch

    def spy(*args, **kw):
        seen.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(J, "decode_batch", spy)
    data = photo_list(tmp_path, n=8)
    for augment, expected in ((name, dict(train=True, flip=flips)), (False, dict(train=False, flip=False))):
        seen.clear()
        model = build_model(CONFIG, (3, 32, 32))
        train(model, data, dataclasses.replace(CONFIG, iters=2, augment=augment), progress=False, on_device=True)
        assert len(seen) == 2 and all({k: kw[k] for k in expected} == expected for kw in seen)
