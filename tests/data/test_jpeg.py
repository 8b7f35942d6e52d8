"""Image list files decoded on the training device (data/jpeg.py), run on the CPU here:
torchvision's decode_jpeg and resize on CPU tensors are the operations the GPU runs with
device="cuda" (tests/test_cuda.py compares the two where there is a GPU)."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import assert_same_state, photo_list
from test_images import write_list_data

from hashnet_lite import load_data
from hashnet_lite.batches import inference_batches
from hashnet_lite.checkpoint import load_checkpoint_state
from hashnet_lite.config import TrainConfig
from hashnet_lite.data.images import ImageListDataset
from hashnet_lite.data.jpeg import EncodedImages, collate_encoded, decode_batch, is_image_list
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
    """PNG (RGB, grey, RGBA) decoded in the workers, JPEG by decode_jpeg: 3-channel images
    equal to PIL's under the test-time transform (upscaled: the resizes agree exactly)."""
    d = load_data(f"list:{write_list_data(tmp_path / 'lists')}")
    items = EncodedImages(d.database)
    assert [items[i][0].dim() for i in range(3)] == [3, 1, 3]  # e.png decoded, f.jpg bytes, a.png decoded
    for part in (d.train.without_augmentation(), d.query, d.database):
        decoded, pil = both_paths(part)
        assert decoded.shape == pil.shape and decoded.dtype == torch.float32
        assert torch.equal(decoded, pil)


def test_downscaled_photos_are_within_one_grey_level_of_pil(tmp_path):
    decoded, pil = both_paths(photo_list(tmp_path, train=False))
    diff = (decoded - pil).abs() * 255
    assert diff.max() <= 1.0 + 1e-3  # antialiased bilinear in torch vs PIL: rounding only
    assert diff.mean() < 0.1


def test_training_crops_are_windows_of_the_resized_image(tmp_path):
    """Each training item is a crop x crop window of the resized image (the test-time
    transform with crop = resize gives that image), mirrored for some items only if the data
    set flips."""
    data = photo_list(tmp_path, crop=32)
    full = ImageListDataset(data.paths, data.labels, train=False, resize=40, crop=40)
    whole = torch.cat(list(inference_batches(full, 8, CPU, decode_on_device=True)))
    files, _ = collate_encoded([EncodedImages(data)[i] for i in range(len(data))])
    for flip in (True, False):
        torch.manual_seed(3)
        x = decode_batch(files, CPU, resize=40, crop=32, train=True, flip=flip)
        kinds = set()
        for i in range(len(data)):
            windows = {(t, l, m) for t in range(9) for l in range(9) for m in (0, 1)
                       if torch.equal(x[i], (whole[i].flip(2) if m else whole[i])[:, t:t + 32, l:l + 32])}
            assert windows, f"item {i} is no window of its resized image"
            kinds.update(m for _, _, m in windows)
        assert kinds == ({0, 1} if flip else {0})
        torch.manual_seed(3)
        assert torch.equal(decode_batch(files, CPU, resize=40, crop=32, train=True, flip=flip), x)


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
def test_the_named_augmentation_reaches_the_device_decoder(tmp_path, name, flips):
    from hashnet_lite.train import training_dataset

    d = load_data(f"list:{write_list_data(tmp_path / 'lists')}")
    chosen = training_dataset(d.train, TrainConfig(augment=name))
    assert chosen.train and chosen.flip == flips
    assert not training_dataset(d.train, TrainConfig(augment=False)).flip
