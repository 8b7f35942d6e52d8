"""Image list files decoded on the training device (a GPU's nvJPEG), not by PIL in workers.

On an H200 (benchmarks/README.md), decoding + resizing + cropping 1,024 photo-sized JPEGs
ran at 6,116 images/s with ``torchvision.io.decode_jpeg(..., device="cuda")`` against
1,089 images/s for PIL in 8 DataLoader workers, while one ResNet-50 training step runs at
6,657 images/s: with PIL the GPU would wait for the workers most of the time.

The split of the work:

- **In the workers** (``EncodedImages``): each file is read as bytes; a file that is not a
  JPEG (PNG, say) is decoded there to RGB uint8, since nvJPEG reads JPEG only.
- **On the device** (``decode_batch``): the batch's JPEGs are decoded in one call, each
  image resized to ``resize x resize`` (antialiased bilinear, as torchvision's Resize on PIL
  images), then the training crop (random ``crop x crop`` window, a left-right flip with
  probability 1/2 when the data set flips) or the test-time centre crop, and scaled to
  [0, 1].

The crops and flips are drawn from the device's global generator, which the training loop
seeds with (seed, step) before each batch, so a resumed run continues exactly (as with the
array data path, ``batches.py``). The pixels are close to the PIL path's, not equal: the two
decoders round their inverse DCTs differently, and the crops are drawn from another
generator. The loop uses this path on CUDA; on the CPU the PIL path stays the default
(``train(..., on_device=True)`` forces this one, which the CPU tests use).
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..batches import UINT8_TO_UNIT

JPEG_MAGIC = b"\xff\xd8\xff"


def is_image_list(dataset) -> bool:
    """Whether ``dataset`` is an image list (``ImageListDataset``: files read by path)."""
    return all(hasattr(dataset, name) for name in ("paths", "labels", "resize", "crop", "train", "flip"))


class EncodedImages(Dataset):
    """An ``ImageListDataset``'s files as they are on disk: item i is (the JPEG's bytes as a
    1-D uint8 tensor, or the decoded (3, H, W) uint8 image of a file in another format;
    its float label row)."""

    def __init__(self, dataset):
        self.paths, self.labels = dataset.paths, dataset.labels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        import torchvision

        # Plain bytes, not torchvision.io.read_file: its tensor could not be passed back
        # from a worker process (its storage failed torch's file-descriptor sharing).
        with open(self.paths[i], "rb") as f:
            data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
        if bytes(data[:3].tolist()) != JPEG_MAGIC:
            data = torchvision.io.decode_image(data, mode=torchvision.io.ImageReadMode.RGB)
        return data, self.labels[i].float()


def collate_encoded(items):
    """A list of encoded items -> (list of the files' tensors, (B, C) labels): the files
    differ in size, so they are not stacked."""
    return [data for data, _ in items], torch.stack([label for _, label in items])


def decode_batch(files: list[torch.Tensor], device: torch.device, *, resize: int, crop: int,
                 train: bool, flip: bool) -> torch.Tensor:
    """(B, 3, crop, crop) float32 in [0, 1] on ``device`` from ``files`` (``EncodedImages``
    items): decoded, resized to ``resize x resize``, then cropped (random + flip when
    ``train``, else the centre)."""
    import torchvision
    import torchvision.transforms.v2.functional as TF  # v2 is a submodule: `import torchvision` leaves it out

    jpegs = [i for i, f in enumerate(files) if f.dim() == 1]
    images = [f.to(device, non_blocking=True) if f.dim() == 3 else None for f in files]
    if jpegs:
        decoded = torchvision.io.decode_jpeg([files[i] for i in jpegs], mode=torchvision.io.ImageReadMode.RGB,
                                             device=device)
        for i, image in zip(jpegs, decoded):
            images[i] = image
    x = torch.stack([TF.resize(image, [resize, resize], antialias=True) for image in images])  # (B, 3, R, R) uint8
    b = len(files)
    if train:  # torchvision's RandomCrop(crop) + RandomHorizontalFlip(), a whole batch at once
        top = torch.randint(0, resize - crop + 1, (b,), device=device)
        left = torch.randint(0, resize - crop + 1, (b,), device=device)
        flips = torch.rand(b, device=device) < 0.5 if flip else torch.zeros(b, dtype=torch.bool, device=device)
    else:  # CenterCrop(crop)
        top = left = torch.full((b,), int(round((resize - crop) / 2.0)), device=device)
        flips = torch.zeros(b, dtype=torch.bool, device=device)
    rows = top[:, None] + torch.arange(crop, device=device)  # (B, crop)
    cols = left[:, None] + torch.arange(crop, device=device)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    x = x.gather(2, rows[:, None, :, None].expand(b, 3, crop, resize))
    x = x.gather(3, cols[:, None, None, :].expand(b, 3, crop, crop))
    return torch.from_numpy(UINT8_TO_UNIT).to(device)[x.int()]  # numpy's x / 255, as the PIL path's ToTensor
