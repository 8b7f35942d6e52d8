"""The shallow baselines ITQ and LSH, fitted on the training items' flattened inputs (the
small data sets) or on the features of a network computed a batch at a time (list files:
the pretrained AlexNet's fc7 when its weights file is on disk, else the trained HashNet's
backbone). Each data set's record (``datasets.DATASETS``) says which it gets; ``shallow_codes`` does it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .baselines import ITQ, LSH
from .model import torchvision_backbone
from .train import resolve_device

SHALLOW = {"ITQ": ITQ, "LSH": LSH}


def baseline_codes(method: str, data, bits: int, seed: int, **features) -> tuple[np.ndarray, np.ndarray]:
    """(query codes, database codes) of ITQ or LSH fitted on the training inputs (the
    flattened inputs; with ``net=`` and the other keywords of ``shallow_codes``, its features)."""
    return shallow_codes([method], data, bits, seed, **features)[method]


def shallow_codes(methods, data, bits: int, seed: int, *, net=None, device="cpu", batch_size: int = 256,
                  num_workers: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{method: (query codes, database codes)} of ITQ / LSH, all fitted on the same inputs.

    ``net=None``: the flattened inputs (``data.arrays``), each part held whole: cheap for small
    images, but an image-file part would be read into one N x 150,528 float array. Otherwise
    the features ``net(x)``, ``batch_size`` items at a time (``backbone_features``): only the
    training features are held (ITQ's PCA needs them all: N_train x D floats); queries and
    database go batch by batch straight to codes, and every method encodes the same batch, so
    the images are read and the network run once per part, whatever the number of methods.
    """
    unknown = [m for m in methods if m not in SHALLOW]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)!r}: expected one or more of {list(SHALLOW)}")
    if net is None:
        def chunks(part):
            yield data.arrays(part)
    else:
        def chunks(part):
            yield from backbone_features(net, getattr(data, part), device=device, batch_size=batch_size,
                                         num_workers=num_workers)
    train = next(chunks("train")) if net is None else _stacked(chunks("train"), len(data.train))
    models = {m: SHALLOW[m](bits, seed=seed).fit(train) for m in methods}
    del train  # before the other parts are read
    codes = {m: {} for m in methods}
    for part in ("query", "database"):
        n = len(getattr(data, part))
        out = {m: np.empty((n, bits), dtype=np.int8) for m in methods}  # filled in place
        start = 0
        for x in chunks(part):
            for m, model in models.items():
                out[m][start:start + len(x)] = model.encode(x)
            start += len(x)
        if start != n:
            raise ValueError(f"the {part} set yielded {start} items, expected {n}")
        for m in methods:
            codes[m][part] = out[m]
    return {m: (codes[m]["query"], codes[m]["database"]) for m in methods}


def backbone_features(net, dataset, *, device="cpu", batch_size: int = 256, num_workers: int = 0):
    """Yields the (B, D) float32 features ``net(x)`` of ``dataset``'s items in order, B <=
    ``batch_size``: under the test-time transform (no augmentation), in eval mode (no
    dropout; batch norm's running statistics), without gradients, on ``device``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid: expected an integer >= 1")
    device = resolve_device(device)
    net = net.to(device).eval()
    if hasattr(dataset, "without_augmentation"):
        dataset = dataset.without_augmentation()
    # A private generator: iterating a DataLoader draws a seed from the global RNG otherwise.
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=device.type == "cuda", generator=torch.Generator())
    for x, _ in loader:
        with torch.no_grad():  # not around the yield: the caller's code would run without gradients
            f = net(x.to(device, non_blocking=True)).flatten(1).float().cpu().numpy()
        yield f


def _stacked(chunks, n: int) -> np.ndarray:
    """The (n, D) array of the chunks, filled in place (never the chunks and their copy at once)."""
    out, start = None, 0
    for x in chunks:
        if out is None:
            out = np.empty((n, x.shape[1]), dtype=np.float32)
        out[start:start + len(x)] = x
        start += len(x)
    if out is None or start != n:
        raise ValueError(f"the training set yielded {start} items, expected {n}")
    return out


def alexnet_weights_present(input_shape) -> bool:
    """Whether torchvision's ImageNet AlexNet weights file is on disk (where
    ``model.torchvision_backbone`` looks) and the inputs are 1- or 3-channel images."""
    import torchvision

    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        return False
    weights = torchvision.models.get_model_weights("alexnet").DEFAULT
    return (Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]).is_file()


def alexnet_fc7(input_shape) -> torch.nn.Module | None:
    """torchvision's ImageNet-pretrained AlexNet up to fc7 (the 4,096-d output of its second
    ReLU; fc8 replaced by Identity), or None when its weights file is not on disk or the
    inputs are not 1- or 3-channel images. Never downloads: without the file the shallow
    baselines take the trained HashNet backbone's features instead."""
    if not alexnet_weights_present(input_shape):
        return None
    return torchvision_backbone("alexnet", input_shape[0], pretrained=True)[0]
