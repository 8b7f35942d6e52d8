"""Helpers shared by the tests in every folder (tests/conftest.py puts tests/ on sys.path,
so ``from helpers import ...`` works from tests/retrieval/, tests/data/, tests/teaching/ and
in processes that the tests spawn).

- ``SyntheticHashData``: a tiny synthetic retrieval data set with class structure;
- ``random_codes``: random +-1 codes;
- ``write_npz``: the arrays that ``npz:`` reads, written to a file;
- ``free_port``: a TCP port nobody listens on;
- ``image_data``: a tiny split of random 4x4 grey pictures;
- ``array_images``: an ``ArrayDataset`` of random 12x12 uint8 (or float) grey images;
- ``photo_list``: an image list of small photo-like JPEGs written to a folder;
- ``small_config``: the lessons' tiny mlp run (8 bits, 30 steps);
- ``TINY``, ``tiny_model``, ``train_tiny``: a training run of a few steps on 16-d features;
  ``assert_same_state`` and ``no_seconds`` compare two runs;
- ``assert_checker_names_the_slip``: a lesson's checker refuses a wrong answer and says why.

The brute-force mAP the fast metrics are checked against is the package's own plain
reference, ``hashnet_lite.retrieval.reference`` (tested against hand-computed cases in
tests/retrieval/test_reference.py).
"""
from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hashnet_lite.config import TrainConfig
from hashnet_lite.model import build_model


class SyntheticHashData(Dataset):
    """n items of dimension d in c classes (class of item i: i % c).

    Items are (x float32 (D,), y float32 multi-hot (C,)), like the package's own data sets.
    Each class has a Gaussian centre; items are centre + unit noise, so an mlp learns codes
    that separate the classes within a few dozen SGD steps on a CPU.

    ``multi_label=True`` also gives every third item the next class as a second label,
    so that similarity (sharing >= 1 label) is not an equivalence relation.
    ``images`` reshapes x to (1, side, side) with side * side == d.
    """

    def __init__(self, n: int = 128, d: int = 16, c: int = 4, *, seed: int = 0, spread: float = 2.0,
                 multi_label: bool = False, images: bool = False):
        g = torch.Generator().manual_seed(seed)
        centres = torch.randn(c, d, generator=g) * spread
        self.classes = torch.arange(n) % c
        self.x = (centres[self.classes] + torch.randn(n, d, generator=g)).float()
        self.y = torch.nn.functional.one_hot(self.classes, c).float()
        if multi_label:
            extra = torch.arange(0, n, 3)
            self.y[extra, (self.classes[extra] + 1) % c] = 1.0
        if images:
            side = int(round(d ** 0.5))
            assert side * side == d, "images=True needs d to be a square"
            self.x = self.x.view(n, 1, side, side)
        self.input_shape = tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def random_codes(rng, n: int, bits: int) -> np.ndarray:
    """(n, bits) int8 codes, each bit +1 or -1 with probability 1/2; ``rng``: a numpy
    Generator (drawn from) or an int seed."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    return np.where(rng.random((n, bits)) < 0.5, 1, -1).astype(np.int8)


def write_npz(path, arrays: dict | None = None, *, n_classes: int = 4, dim: int = 12, per_class=(8, 10, 20),
              multi_label: bool = False, seed: int = 0, drop=(), **overrides) -> Path:
    """Write the six arrays ``npz:`` reads (x_/y_ of train, query, database) to ``path``.

    ``arrays`` is written as given; without it Gaussian clusters are drawn: ``n_classes``
    centres (scale 3) in ``dim`` dimensions, ``per_class`` = items per class in (query, train,
    database), labels as class ids (sorted by class) or, with ``multi_label``, one-hot rows
    where every third item also has the next class. ``overrides`` replace arrays (None
    removes one), ``drop`` removes keys.
    """
    if arrays is None:
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(n_classes, dim)) * 3
        arrays = {}
        for part, k in zip(("query", "train", "database"), per_class):
            y = np.repeat(np.arange(n_classes), k)
            x = centres[y] + rng.normal(size=(len(y), dim))
            if multi_label:
                hot = np.eye(n_classes, dtype=np.uint8)[y]
                hot[::3, (y[::3] + 1) % n_classes] = 1
                y = hot
            arrays[f"x_{part}"], arrays[f"y_{part}"] = x.astype(np.float32), y
    arrays = {**arrays, **overrides}
    arrays = {k: v for k, v in arrays.items() if v is not None and k not in drop}
    np.savez(path, **arrays)
    return Path(path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A tiny, fast run: mlp hidden=32 on 16-d features, batch 32 (4 steps per epoch of 128 items).
TINY = TrainConfig(bits=16, backbone="mlp", hidden=32, batch_size=32, iters=20, lr=0.01, log_every=5,
                   checkpoint_every=5, step_size=10, gamma=0.1, device="cpu", seed=0)


def tiny_model(config: TrainConfig = TINY, shape=(16,), *, weights_seed: int | None = None):
    """``build_model(config, shape)``; ``weights_seed`` draws other initial weights than config.seed."""
    import dataclasses

    return build_model(config if weights_seed is None else dataclasses.replace(config, seed=weights_seed), shape)


def train_tiny(data, config: TrainConfig = TINY, shape=(16,), **kw):
    """(model, history): ``train.train`` of a fresh ``tiny_model(config, shape)``, without a progress bar."""
    from hashnet_lite.train import train

    model = tiny_model(config, shape)
    return model, train(model, data, config, progress=False, **kw)


def assert_same_state(a, b) -> None:
    """Two models hold exactly the same parameters and buffers."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def no_seconds(history: list[dict]) -> list[dict]:
    """A training history without its wall-clock field (the rest is deterministic)."""
    return [{k: v for k, v in rec.items() if k != "seconds"} for rec in history]


def small_config(**changes) -> TrainConfig:
    """The teaching tests' run: 8-bit mlp (hidden 32), 30 steps of batch 32, fast continuation."""
    import dataclasses

    base = TrainConfig(bits=8, backbone="mlp", hidden=32, iters=30, batch_size=32, lr=0.01,
                       gamma=0.2, step_size=5, log_every=10, device="cpu")
    return dataclasses.replace(base, **changes)


def image_data(n_per_class: int = 12, classes: int = 3, seed: int = 0, side: int = 4, scale: float = 1.0):
    """A RetrievalData of random (1, side, side) pictures with values in [0, scale]: 2 queries and
    4 training items per class, the rest the database."""
    from hashnet_lite.data import split_arrays

    rng = np.random.default_rng(seed)
    class_ids = np.repeat(np.arange(classes), n_per_class)
    x = torch.from_numpy((rng.random((len(class_ids), 1, side, side)) * scale).astype(np.float32))
    return split_arrays("test", x, class_ids, seed=seed, n_query=2, n_train=4, database="rest", topk=None, name="t")


def sliders(box) -> dict:
    """description -> slider, for every numeric slider inside a widget box (ipywidgets needed)."""
    import ipywidgets

    found, todo = {}, [box]
    while todo:
        w = todo.pop()
        todo.extend(getattr(w, "children", ()))
        if isinstance(w, (ipywidgets.widgets.widget_int._Int, ipywidgets.widgets.widget_float._Float)):
            found[w.description] = w
    return found


def array_images(n=80, c=4, uint8=True, seed=0, augment=None, index=None):
    """An ``ArrayDataset`` of ``n`` random 1x12x12 images (uint8, or float32 when ``uint8`` is
    False) with one of ``c`` classes each: what the training loop holds on the device."""
    from hashnet_lite.data.container import ArrayDataset

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 1, 12, 12), dtype=np.uint8)
    if not uint8:
        x = x.astype(np.float32) / 7.0
    y = np.eye(c, dtype=np.uint8)[rng.integers(0, c, n)]
    return ArrayDataset(torch.from_numpy(x), torch.from_numpy(y), index=index, augment=augment)


def photo_list(tmp_path, n=8, resize=40, crop=32, train=True, flip=True):
    """An image list of ``n`` smooth photo-like JPEGs of different sizes written to ``tmp_path``
    (each downscaled to resize x resize), labels of 2 classes."""
    from PIL import Image

    from hashnet_lite.data.images import ImageListDataset

    rng = np.random.default_rng(0)
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        paths.append(tmp_path / f"{i}.jpg")
        Image.fromarray(small).resize((120 - 7 * (i % 12), 90), Image.BILINEAR).save(paths[-1], quality=90)
    labels = np.eye(2, dtype=np.uint8)[np.arange(n) % 2]
    return ImageListDataset(paths, labels, train=train, resize=resize, crop=crop, flip=flip)


def assert_checker_names_the_slip(name: str, answer, phrase: str) -> None:
    """The checker of exercise ``name`` calls ``answer`` wrong (not unanswered), its message holds
    ``phrase`` and the hint's name, and strict mode (nbgrader) raises."""
    import pytest

    from hashnet_lite.teaching import exercises

    check = exercises.EXERCISES[name].check
    feedback = check(answer, strict=False)
    assert not feedback and feedback.status == exercises.WRONG, feedback
    assert phrase in feedback.message, feedback.message
    assert f"hint({name!r})" in feedback.message
    with pytest.raises(AssertionError, match="Not yet"):
        check(answer, strict=True)
