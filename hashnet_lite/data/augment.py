"""Training augmentation of image batches, on the device the batch lives on.

One operation, whole batches at a time: a random HxW crop of the zero-padded image
(torchvision's RandomCrop(H, padding)), optionally mirrored left-right with probability
1/2 (RandomHorizontalFlip). Flips are not safe for every data set (digits, text, scenes
with a handedness), crops of a few pixels are: that is why the generic ``images`` preset
crops only, and why flipping is a choice (``TrainConfig.augment``, CLI ``--augment``).

A second operation can follow the crop on images held in arrays: random erasing
(``random_erase``, ``TrainConfig.erase``, chained by ``then_erase``), which blanks one
rectangle of an image so that the network cannot lean on any one region of it
(tuning/README.md has what it did for the fashion-mnist preset).

The random numbers come from the global generator of the batch's device, which the
training loop seeds with (seed, step) before each batch: a resumed run draws the same
crops as an uninterrupted one, on the CPU and on a GPU.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import torch

from ..config import AUGMENTATIONS  # what TrainConfig.augment may name besides True and False
from .container import held_in_arrays


def crop_padding(height: int, width: int) -> int:
    """Pixels of padding for a crop of an HxW image: 1/14 of the shorter side (2 for 28x28,
    the value the Fashion-MNIST trials chose; tuning/README.md), at least 1."""
    return max(1, round(min(height, width) / 14))


def random_crop_flip(x: torch.Tensor, padding: int = 4, flip: bool = True) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W): per item a random HxW crop of the image zero-padded by
    ``padding`` pixels, mirrored left-right with probability 1/2 when ``flip``.

    Draws the offsets (then the flips) from the global generator of ``x``'s device. On the
    CPU the gather runs in numpy (single-threaded: torch spread even small batches over its
    OpenMP threads, slower on a busy 2-core machine, benchmarks/bench_data.py); elsewhere
    in torch. Both index the same pixels, so they give the same batch for the same draws.
    """
    b = x.shape[0]
    oy = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    ox = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    flips = torch.rand(b, device=x.device) < 0.5 if flip else torch.zeros(b, dtype=torch.bool, device=x.device)
    if x.device.type == "cpu":
        return torch.from_numpy(_crop_numpy(x.numpy(), oy.numpy(), ox.numpy(), flips.numpy(), padding))
    return crop_torch(x, oy, ox, flips, padding)


def _crop_numpy(x: np.ndarray, oy, ox, flips, padding: int) -> np.ndarray:
    b, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    rows = oy[:, None] + np.arange(h)  # (B, H)
    cols = ox[:, None] + np.arange(w)  # (B, W)
    cols = np.where(flips[:, None], cols[:, ::-1], cols)
    return padded[np.arange(b)[:, None, None, None], np.arange(c)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def crop_torch(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flips: torch.Tensor,
               padding: int, size: tuple[int, int] | None = None) -> torch.Tensor:
    """The crop (and flip) for given offsets and flips, in torch on ``x``'s device: two
    gathers along H and W of the padded batch, no host round trip. The crops are ``size``
    (H, W) (default: the input's; ``data.jpeg`` cuts 224x224 from 256x256 with no padding)."""
    b, c = x.shape[:2]
    h, w = x.shape[2:] if size is None else size
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding)) if padding else x
    rows = oy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = ox[:, None] + torch.arange(w, device=x.device)  # (B, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    out = padded.gather(2, rows[:, None, :, None].expand(b, c, h, padded.shape[3]))
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def augmentation(name: str, input_shape: tuple) -> Callable[[torch.Tensor], torch.Tensor]:
    """The batch augmentation ``name`` ('crop' or 'crop-flip') for images of ``input_shape``
    (C, H, W), with the padding of ``crop_padding``."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"augment={name!r} is invalid: expected True, False or one of {AUGMENTATIONS}")
    _check_images(f"augment={name!r}", "crops images", input_shape, "augment=False")
    return functools.partial(random_crop_flip, padding=crop_padding(*input_shape[1:]), flip=name == "crop-flip")


def _check_images(setting: str, does: str, input_shape: tuple, off: str) -> None:
    if len(input_shape) != 3:
        raise ValueError(f"{setting} {does}, but the items have shape {tuple(input_shape)}: "
                         f"expected (C, H, W) images; use {off} for feature vectors")


def then_erase(augment: Callable[[torch.Tensor], torch.Tensor] | None, p: float,
               input_shape: tuple) -> Callable:
    """``augment`` (None: none) followed by ``random_erase`` with probability ``p``, for
    images of ``input_shape`` (C, H, W): one augmentation, so the rectangles are drawn from
    the same seeded stream right after the crop, in whichever process draws the crop
    (picklable for loader workers)."""
    _check_images(f"erase={p}", "blanks rectangles of images", input_shape, "erase=0")
    return functools.partial(_augment_then_erase, augment, p)


def _augment_then_erase(augment, p: float, x: torch.Tensor) -> torch.Tensor:
    return random_erase(augment(x) if augment is not None else x, p)


def random_erase(x: torch.Tensor, p: float, scale: tuple[float, float] = (0.02, 0.33),
                 ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W): with probability ``p`` per item, one rectangle of the
    image set to 0 (black, in [0, 1] pixels) across its channels (Zhong et al. 2020). The
    rectangle's area is a uniform fraction ``scale`` of the image, its aspect (height /
    width) log-uniform in ``ratio`` (the ranges of torchvision's RandomErasing), its sides
    rounded and clipped to the image (torchvision redraws a rectangle that does not fit, up
    to 10 times), its place uniform among those where it fits.

    Vectorised over the batch (one mask, no per-item loop) and drawn from the global
    generator of ``x``'s device, five numbers per item, so a seeded step erases the same
    rectangles again (exact resume).
    """
    b, _, h, w = x.shape
    u = torch.rand(b, 5, device=x.device)
    area = (scale[0] + (scale[1] - scale[0]) * u[:, 0]) * (h * w)
    log_lo, log_hi = np.log(ratio[0]), np.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[:, 1])
    eh = torch.sqrt(area * aspect).round().clamp(1, h)
    ew = torch.sqrt(area / aspect).round().clamp(1, w)
    top = (u[:, 2] * (h - eh + 1)).floor()
    left = (u[:, 3] * (w - ew + 1)).floor()
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])  # (B, H)
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])  # (B, W)
    mask = in_rows[:, :, None] & in_cols[:, None, :] & (u[:, 4] < p)[:, None, None]
    return x.masked_fill(mask[:, None], 0)


def for_training(dataset, config):
    """``dataset`` with the augmentation ``config.augment`` asks for: True keeps the data set's
    own, False removes it, 'crop' / 'crop-flip' sets that one (images in arrays, or image
    files through their own random crop); then random erasing when ``config.erase`` is set
    (images in arrays). Each kind of data set says what it can do (``without_augmentation``,
    ``with_named_augmentation`` for image files, ``with_augmentation`` for arrays); others
    are refused with the setting that would work."""
    dataset = _with_augment(dataset, config)
    if not config.erase:
        return dataset
    if not held_in_arrays(dataset):
        raise ValueError(f"erase={config.erase} needs images held in arrays (fashion-mnist, cifar10, npz:); "
                         f"{type(dataset).__name__} is not: use erase=0")
    # Part of the data set's augmentation, so drawn where its crop is drawn (on the training
    # device, or in a loader worker), right after it, from the step's seeded generator.
    return dataset.with_augmentation(then_erase(dataset.augment, config.erase, tuple(dataset.x.shape[1:])))


def _with_augment(dataset, config):
    if config.augment is True:
        return dataset
    if config.augment is False:
        return dataset.without_augmentation() if hasattr(dataset, "without_augmentation") else dataset
    if hasattr(dataset, "with_named_augmentation"):  # image files: their own crop, with or without flip
        return dataset.with_named_augmentation(config.augment)
    if not hasattr(dataset, "with_augmentation"):
        raise ValueError(f"augment={config.augment!r} needs images (fashion-mnist, cifar10, npz:, list:); "
                         f"{type(dataset).__name__} cannot be cropped: use augment=True or False")
    return dataset.with_augmentation(augmentation(config.augment, tuple(dataset.x.shape[1:])))
