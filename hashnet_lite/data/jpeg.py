"""Image list files decoded on the training device (a GPU's nvJPEG), not by PIL in workers.

On an H200 (benchmarks/README.md), decoding + resizing + cropping 1,024 photo-sized JPEGs
ran at 6,116 images/s with ``torchvision.io.decode_jpeg(..., device="cuda")`` against
1,089 images/s for PIL in 8 DataLoader workers, while one ResNet-50 training step runs at
6,657 images/s: with PIL the GPU would wait for the workers most of the time.

The split of the work:

- **In the workers** (``EncodedImages``, ``pack_files``): each file is read as bytes; a file
  that is not a JPEG (PNG, BMP, TIFF, GIF, 16-bit images...) is decoded there by PIL to RGB
  uint8, as the PIL path does, since nvJPEG reads JPEG only. A batch travels back from a
  worker as one flat uint8 tensor and the items' sizes (one shared-memory block per batch:
  a tensor per file ran out of file descriptors at batch 512).
- **On the device** (``decode_batch``): the batch's JPEGs are decoded in one call (one by
  one if the call fails, e.g. on a CMYK JPEG, and by PIL for a file the device cannot
  decode), each image resized to ``resize x resize`` (antialiased bilinear, as
  torchvision's Resize on PIL images), then the training crop (random ``crop x crop``
  window, a left-right flip with probability 1/2 when the data set flips) or the
  test-time centre crop, and scaled to [0, 1].

The crops and flips are drawn from the device's global generator, which the training loop
seeds with (seed, step) before each batch, so a resumed run continues exactly (as with the
array data path, ``batches.py``). The pixels are close to the PIL path's, not equal: on the
CPU within one grey level in 255 (tests/data/test_jpeg.py); on a GPU nvJPEG's inverse DCT
and the float resize round differently again (tests/test_cuda.py allows 8 levels at most,
1 on average). The crops come from another generator than the PIL path's. The loop uses this
path on CUDA when the device decodes a probe JPEG (``device_decodes_jpeg``; a build without
nvJPEG, ROCm's say, keeps PIL); on the CPU the PIL path stays the default
(``train(..., on_device=True)`` forces this one, which the CPU tests use).
"""
from __future__ import annotations

import functools
import io
import math
import warnings

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import crop_torch
from .container import unit_table

JPEG_MAGIC = b"\xff\xd8\xff"


def is_image_list(dataset) -> bool:
    """Whether ``dataset`` is an image list (``ImageListDataset``: files read by path)."""
    return all(hasattr(dataset, name) for name in ("paths", "labels", "resize", "crop", "train", "flip"))


def decodes_on_device(dataset, device: torch.device) -> bool:
    """The default: an image list on a CUDA device that decodes JPEGs goes through
    ``decode_batch``; anything else keeps its own path (PIL for image lists on the CPU)."""
    return device.type == "cuda" and is_image_list(dataset) and device_decodes_jpeg(device)


def transform_of(dataset) -> dict:
    """An image list's transform as ``decode_batch``'s keyword arguments."""
    return dict(resize=dataset.resize, crop=dataset.crop, train=dataset.train, flip=dataset.flip)


def _pil_rgb(source) -> torch.Tensor:
    """(3, H, W) uint8 of an image file or file-like object, as the PIL path reads it."""
    from PIL import Image

    with Image.open(source) as image:
        return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()


class EncodedImages(Dataset):
    """An ``ImageListDataset``'s files as they are on disk: item i is (the JPEG's bytes as a
    1-D uint8 tensor, or the (3, H, W) uint8 image PIL decodes from a file in another
    format; its float label row)."""

    def __init__(self, dataset):
        if not is_image_list(dataset):
            raise TypeError(f"dataset={type(dataset).__name__} is not an image list: decoding on the device "
                            f"needs an ImageListDataset (list files)")
        self.paths, self.labels = dataset.paths, dataset.labels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            raw = f.read()
        if raw[:3] == JPEG_MAGIC:
            data = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
        else:
            data = _pil_rgb(io.BytesIO(raw))
        return data, self.labels[i].float()


def pack_files(items):
    """DataLoader collate: a batch of ``EncodedImages`` items -> ((one flat uint8 tensor of
    every item's data, each item's shape: (n,) for JPEG bytes, (3, H, W) for a decoded
    image), (B, C) labels)."""
    shapes = [tuple(data.shape) for data, _ in items]
    flat = torch.cat([data.reshape(-1) for data, _ in items])
    return (flat, shapes), torch.stack([label for _, label in items])


def unpack_files(packed) -> list[torch.Tensor]:
    """``pack_files``' first part -> the items' tensors (views of the flat one)."""
    flat, shapes = packed
    pieces = torch.split(flat, [math.prod(s) for s in shapes])
    return [piece.view(shape) for piece, shape in zip(pieces, shapes)]


@functools.lru_cache(maxsize=None)
def device_decodes_jpeg(device: torch.device) -> bool:
    """Whether torchvision decodes JPEGs on ``device`` (a CUDA build with nvJPEG), tried once
    on a 16x16 probe; if not, a warning says the loop keeps decoding with PIL."""
    import torchvision
    from PIL import Image

    probe = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 60)).save(probe, format="JPEG")
    data = torch.frombuffer(bytearray(probe.getvalue()), dtype=torch.uint8)
    try:
        image = torchvision.io.decode_jpeg([data], device=device)[0]
        return image.shape == (3, 16, 16)
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as e:
        warnings.warn(f"torchvision cannot decode JPEGs on {device} ({type(e).__name__}: {str(e)[:120]}); "
                      f"image lists are decoded by PIL in DataLoader workers instead", stacklevel=2)
        return False


def _decode_jpegs(files: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """RGB (3, H, W) uint8 images on ``device``: one batched decode_jpeg call; if that fails,
    each file alone, and PIL for a file the device cannot decode (CMYK JPEGs on nvJPEG)."""
    import torchvision

    rgb = torchvision.io.ImageReadMode.RGB
    try:
        return torchvision.io.decode_jpeg(files, mode=rgb, device=device)
    except RuntimeError:
        images = []
        for data in files:
            try:
                images.append(torchvision.io.decode_jpeg([data], mode=rgb, device=device)[0])
            except RuntimeError:
                images.append(_pil_rgb(io.BytesIO(data.numpy().tobytes())).to(device))
        return images


def decode_batch(packed, device: torch.device, *, resize: int, crop: int, train: bool,
                 flip: bool) -> torch.Tensor:
    """(B, 3, crop, crop) float32 in [0, 1] on ``device`` from a ``pack_files`` batch:
    decoded, resized to ``resize x resize``, then cropped (random + flip when ``train``,
    else the centre), as torchvision's Resize((resize, resize)), RandomCrop(crop) /
    CenterCrop(crop) and RandomHorizontalFlip() do."""
    import torchvision.transforms.v2.functional as TF  # v2 is a submodule: `import torchvision` leaves it out

    if crop > resize:
        raise ValueError(f"crop={crop} is larger than resize={resize}: expected crop <= resize")
    files = unpack_files(packed)
    jpegs = [i for i, f in enumerate(files) if f.dim() == 1]
    images = [f.to(device, non_blocking=True) if f.dim() == 3 else None for f in files]
    for i, image in zip(jpegs, _decode_jpegs([files[i] for i in jpegs], device) if jpegs else ()):
        images[i] = image
    x = torch.stack([TF.resize(image, [resize, resize], antialias=True) for image in images])  # (B, 3, R, R) uint8
    b = len(files)
    if train:  # RandomCrop(crop) + RandomHorizontalFlip(), a whole batch at once
        top = torch.randint(0, resize - crop + 1, (b,), device=device)
        left = torch.randint(0, resize - crop + 1, (b,), device=device)
        flips = torch.rand(b, device=device) < 0.5 if flip else torch.zeros(b, dtype=torch.bool, device=device)
    else:  # CenterCrop(crop)
        top = left = torch.full((b,), int(round((resize - crop) / 2.0)), device=device)
        flips = torch.zeros(b, dtype=torch.bool, device=device)
    x = crop_torch(x, top, left, flips, padding=0, size=(crop, crop))
    return unit_table(device)[x.int()]  # numpy's x / 255, as the PIL path's ToTensor
