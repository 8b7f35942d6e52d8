"""Where the training loop's batches come from.

Two paths give the same batches, step for step:

- **On the device** (``DeviceData``): a training set held in arrays (``ArrayDataset``:
  digits, Fashion-MNIST, CIFAR-10, any npz) is copied once to the training device, uint8
  as uint8 (Fashion-MNIST's 5,000 training images are 3.9 MB, CIFAR-10's 50,000 are
  154 MB). Each step gathers its rows, scales them to [0, 1] and augments them there: no
  host work, no copy, no sync per step. Used whenever the training part takes at most a
  quarter of the GPU's free memory, and on the CPU.
- **Through a DataLoader** (``loader_batches``): everything else (image list files, arrays
  too large for the GPU), with ``num_workers`` workers (on CUDA, up to 8 when it is 0),
  pinned memory and non-blocking copies on CUDA. In workers, each batch seeds its
  augmentation with its step's seed, so a resume is exact there too. Image list files of
  JPEGs on CUDA: the workers only read the files, and the GPU decodes, resizes and crops
  each batch (``data/jpeg.py``; 5.6x PIL in 8 workers on an H200).

Both follow one batch order: epoch e is ``torch.randperm(n)`` from a generator seeded with
(seed, e), cut into full batches (the last incomplete one is dropped); each DDP rank takes
``batch[rank::world_size]``. Augmentation draws from the global generator of the batch's
device, which the loop seeds with (seed, step) just before the batch is drawn, so a
resumed run continues exactly.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from . import distributed
from .data.container import UINT8_TO_UNIT, held_in_arrays, unit_table  # noqa: F401 (UINT8_TO_UNIT: tests read it here)

DEVICE_MEMORY_SHARE = 0.25  # the most of a GPU's free memory a training set may take


def seed_for(seed: int, counter: int) -> int:
    """One 63-bit seed per (seed, counter): the epoch's order, a step's augmentation and dropout."""
    return (seed * 1_000_003 + counter) % (2**63 - 1)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled item order of one epoch (int64, on the CPU)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed_for(seed, epoch)))


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The shuffled batches of one epoch (the last incomplete batch is dropped)."""
    order = epoch_order(n, seed, epoch).tolist()
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def training_bytes(dataset: Dataset) -> int:
    """Bytes of the training part's inputs and float32 labels once held on a device."""
    held_itemsize = 1 if dataset.x.dtype == np.uint8 else 4  # DeviceData keeps uint8, else float32
    return len(dataset) * (int(np.prod(dataset.x.shape[1:])) * held_itemsize + dataset.y.shape[1] * 4)


def use_device_data(dataset: Dataset, device: torch.device) -> bool:
    """True when the loop should hold ``dataset`` on ``device``: arrays that fit (on CUDA, at
    most ``DEVICE_MEMORY_SHARE`` of the free memory; on the CPU they are in memory already)."""
    if not held_in_arrays(dataset):
        return False
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return training_bytes(dataset) <= DEVICE_MEMORY_SHARE * free


class DeviceData:
    """The training part of an ``ArrayDataset`` held on ``device``; ``batch(rows)`` gathers,
    scales and augments a batch there."""

    def __init__(self, dataset: Dataset, device: torch.device):
        rows = dataset.index
        x = dataset.x if rows is None else dataset.x[rows]
        y = dataset.y if rows is None else dataset.y[rows]
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device)  # uint8 stays uint8: 4x less memory
        if x.dtype != np.uint8:
            self.x = self.x.float()
        self.y = torch.from_numpy(np.asarray(y, dtype=np.float32)).to(device)
        self.unit = unit_table(torch.device(device)) if x.dtype == np.uint8 else None
        self.augment = dataset.augment

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of ``rows`` (int64 on the device): x float32 in [0, 1] for uint8 images,
        augmented when the data set has a training augmentation."""
        x = self.x[rows]
        if self.unit is not None:
            x = self.unit[x.int()]
        if self.augment is not None:
            x = self.augment(x)
        return x, self.y[rows]


def device_batches(held: DeviceData, step: int, seed: int, batch_size: int):
    """Yields (step, x, y) forever from ``held``, starting at ``step``."""
    rank, size = distributed.world()
    n = len(held)
    steps_per_epoch = max(1, n // batch_size)
    while True:
        epoch, offset = divmod(step, steps_per_epoch)
        order = epoch_order(n, seed, epoch).to(held.x.device, non_blocking=True)
        for i in range(offset, steps_per_epoch):
            x, y = held.batch(order[i * batch_size:(i + 1) * batch_size][rank::size])
            yield step, x, y
            step += 1


class SeededBatches(Dataset):
    """``dataset`` served a batch at a time, with torch's global generator seeded for the
    batch's step first: the batch sampler hands over ``(seed, index)`` pairs, so a batch
    is augmented the same in a worker process as in the main one, and a resumed run gets
    the same augmentation whatever worker each batch lands on."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, pairs):
        torch.manual_seed(pairs[0][0])
        indices = [i for _, i in pairs]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(indices)
        return [self.dataset[i] for i in indices]

    def __getitem__(self, pair):
        return self.__getitems__([pair])[0]


def loader_batches(dataset: Dataset, step: int, seed: int, batch_size: int, device: torch.device,
                   num_workers: int = 0, step_seed=None, decode_on_device: bool = False):
    """Yields (step, x, y) forever through a DataLoader, starting at ``step``; each rank gets
    its shard of every batch. Pinned memory and non-blocking copies on CUDA.

    ``step_seed(step)`` (the loop's seed for a step's augmentation) seeds each batch where it
    is made, in a worker or in this process (``SeededBatches``); without it batches draw from
    this process's generator as they come. ``decode_on_device`` (image lists only): the
    loader reads the files and ``data.jpeg.decode_batch`` decodes and crops them on
    ``device``, drawing from its generator as the array path does."""
    rank, size = distributed.world()
    n = len(dataset)
    steps_per_epoch = max(1, n // batch_size)
    loader_kw = dict(num_workers=num_workers, pin_memory=device.type == "cuda",
                     persistent_workers=False)
    if decode_on_device:
        from .data.jpeg import EncodedImages, decode_batch, pack_files, transform_of

        source, step_seed = EncodedImages(dataset), None  # no random draws in the workers
        loader_kw.update(collate_fn=pack_files, pin_memory=False)  # the files' bytes: nothing worth pinning
        transform = transform_of(dataset)
    else:
        source = dataset if step_seed is None else SeededBatches(dataset)
    while True:
        epoch, offset = divmod(step, steps_per_epoch)
        batches = [b[rank::size] for b in epoch_batches(n, batch_size, seed, epoch)[offset:]]
        if step_seed is not None:
            batches = [[(step_seed(step + k), i) for i in b] for k, b in enumerate(batches)]
        # A private generator: a DataLoader otherwise draws from the global RNG when iterated.
        loader = DataLoader(source, batch_sampler=batches, generator=torch.Generator().manual_seed(epoch),
                            **loader_kw)
        for x, y in loader:
            x = decode_batch(x, device, **transform) if decode_on_device else x.to(device, non_blocking=True)
            yield step, x, y.to(device, non_blocking=True)
            step += 1


def loader_workers(config, device: torch.device) -> int:
    """``config.num_workers``, or on CUDA when it is 0 up to 8 workers (one per core): a GPU
    step is over long before one process has decoded a batch of JPEGs."""
    if config.num_workers or device.type != "cuda":
        return config.num_workers
    return min(8, os.cpu_count() or 1)


def training_batches(dataset: Dataset, step: int, config, batch_size: int, device: torch.device,
                     on_device: bool | None = None, step_seed=None):
    """The batches of a run from ``step`` on: on the device when ``use_device_data`` says so
    (or ``on_device`` forces a path), else through a DataLoader whose workers seed each
    batch with ``step_seed(step)`` (the seed the loop gives the step). Image lists are
    decoded on the device on CUDA (``on_device=True`` forces it elsewhere), else by PIL in
    the workers."""
    from .data.jpeg import decodes_on_device, is_image_list

    image_list = is_image_list(dataset)
    if on_device is None:
        on_device = decodes_on_device(dataset, device) if image_list else use_device_data(dataset, device)
    if on_device and not image_list:
        return device_batches(DeviceData(dataset, device), step, config.seed, batch_size)
    workers = loader_workers(config, device)
    return loader_batches(dataset, step, config.seed, batch_size, device, workers,
                          step_seed=step_seed if workers else None, decode_on_device=on_device)


def inference_batches(dataset: Dataset, batch_size: int, device: torch.device, decode_on_device: bool | None = None,
                      num_workers: int | None = None):
    """Yields the inputs of every item of ``dataset`` in order, ``batch_size`` at a time, on
    ``device`` (for ``train.encode``). Image lists are decoded on the device on CUDA
    (``decode_on_device`` forces either way), with ``num_workers`` processes reading the
    files (None: up to 8 when decoding on the device, else 0)."""
    from .data.jpeg import EncodedImages, decode_batch, decodes_on_device, pack_files, transform_of

    if decode_on_device is None:
        decode_on_device = decodes_on_device(dataset, device)
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1) if decode_on_device else 0
    generator = torch.Generator()  # iterating a DataLoader draws a seed from the global RNG otherwise
    if decode_on_device:
        loader = DataLoader(EncodedImages(dataset), batch_size=batch_size, shuffle=False, generator=generator,
                            num_workers=num_workers, collate_fn=pack_files)
        for files, _ in loader:
            yield decode_batch(files, device, **transform_of(dataset))
    else:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, pin_memory=device.type == "cuda",
                            generator=generator, num_workers=num_workers)
        for x, _ in loader:
            yield x.to(device, non_blocking=True)
