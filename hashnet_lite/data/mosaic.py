"""Fashion-MNIST mosaics: a multi-label data set whose similarity is imbalanced.

The paper's multi-label data sets (NUS-WIDE, MS-COCO) cannot be obtained offline, so this
builds one from Fashion-MNIST. Each item is a 2x2 mosaic of four Fashion-MNIST images, each
shrunk to 14x14 (the mean of every 2x2 block), so that a mosaic is 28x28 like the originals
and costs the same to train on. Its labels are the multi-hot union of the four classes.

Two mosaics are similar when they share a class. Four draws from ten classes cover about 3.4
of them, so most pairs are similar (about 80%): the imbalance is the reverse of ImageNet's,
and the degree of overlap varies from one shared class to four. That is where HashNet's
weights (|S|/|S1| and |S|/|S0|) and its continuous similarity c_ij are meant to matter.

Protocol (NUS-WIDE's, at a CPU's scale): 5,000 training mosaics and 20,000 database mosaics
built from the 60,000 training images, 1,000 query mosaics from the 10,000 test images (so
no query shares an image with the database), mAP@5000. Every draw comes from
``np.random.default_rng(seed)``, recorded as ``split_seed``: ``load_data(spec,
seed=split_seed)`` draws the same mosaics again.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from .container import ArrayDataset, RetrievalData
from .images import FASHION_PADDING, fashion_mnist_arrays, random_crop_flip

SIZES = {"train": 5000, "query": 1000, "database": 20000}
TILES = 4  # a 2x2 mosaic


def shrink(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 14, 14) uint8: the mean of each 2x2 block, rounded."""
    n, h, w = images.shape
    blocks = images.reshape(n, h // 2, 2, w // 2, 2).astype(np.float32).mean(axis=(2, 4))
    return np.rint(blocks).astype(np.uint8)


def mosaics(tiles: np.ndarray, class_ids: np.ndarray, n: int, num_classes: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` mosaics of four random tiles: images (n, 1, 2h, 2w) uint8 and labels (n, C) uint8."""
    pick = rng.integers(0, len(tiles), size=(n, TILES))  # (n, 4) tile indices
    t = tiles[pick]  # (n, 4, h, w)
    top = np.concatenate([t[:, 0], t[:, 1]], axis=2)  # (n, h, 2w)
    bottom = np.concatenate([t[:, 2], t[:, 3]], axis=2)
    images = np.concatenate([top, bottom], axis=1)[:, None]  # (n, 1, 2h, 2w)
    labels = np.zeros((n, num_classes), np.uint8)
    np.put_along_axis(labels, class_ids[pick], 1, axis=1)  # the union of the four classes
    return images, labels


def load_fashion_mosaic(spec: str, arg: str | None, base: Path, *, seed: int = 0, protocol,
                        sizes: dict | None = None) -> RetrievalData:
    """The mosaic data set (see the module docstring); ``sizes`` overrides ``SIZES``."""
    sizes = {**SIZES, **(sizes or {})}
    parts, folder = fashion_mnist_arrays(arg, base)
    num_classes = int(max(parts["train_labels"].max(), parts["test_labels"].max())) + 1
    rng = np.random.default_rng(seed)
    train_tiles, test_tiles = shrink(parts["train_images"]), shrink(parts["test_images"])
    train_ids, test_ids = parts["train_labels"].astype(np.int64), parts["test_labels"].astype(np.int64)
    made = {
        "train": mosaics(train_tiles, train_ids, sizes["train"], num_classes, rng),
        "database": mosaics(train_tiles, train_ids, sizes["database"], num_classes, rng),
        "query": mosaics(test_tiles, test_ids, sizes["query"], num_classes, rng),
    }
    topk = protocol.topk
    similar = _similar_fraction(made["query"][1], made["database"][1])
    described = (f"Fashion-MNIST 2x2 mosaics from {folder}: {sizes['train']:,} training and "
                f"{sizes['database']:,} database mosaics of the 60,000 training images, {sizes['query']:,} "
                f"query mosaics of the 10,000 test images, drawn with np.random.default_rng(seed={seed}); "
                f"labels: the union of the four classes ({similar:.0%} of query-database pairs similar); "
                f"mAP@{topk}.")
    augment = functools.partial(random_crop_flip, padding=FASHION_PADDING)
    return RetrievalData(
        spec=spec,
        train=ArrayDataset(torch.from_numpy(made["train"][0]), torch.from_numpy(made["train"][1]), augment=augment),
        query=ArrayDataset(torch.from_numpy(made["query"][0]), torch.from_numpy(made["query"][1])),
        database=ArrayDataset(torch.from_numpy(made["database"][0]), torch.from_numpy(made["database"][1])),
        y_train=made["train"][1], y_query=made["query"][1], y_database=made["database"][1],
        input_shape=tuple(made["train"][0].shape[1:]), num_classes=num_classes, topk=topk, protocol=described,
        split_seed=seed)


def _similar_fraction(query_labels: np.ndarray, database_labels: np.ndarray) -> float:
    return float(((query_labels.astype(np.int64) @ database_labels.T.astype(np.int64)) > 0).mean())
