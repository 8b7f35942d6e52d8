"""Shared fixtures: a tiny synthetic retrieval data set with class structure.

Items are (x float32 (D,), y float32 multi-hot (C,)), like the package's own data sets.
Each class has a Gaussian centre; items are centre + unit noise, so an mlp learns codes
that separate the classes within a few dozen SGD steps on a CPU.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import threadpoolctl
import torch
from torch.utils.data import Dataset


class SyntheticHashData(Dataset):
    """n items of dimension d in c classes (class of item i: i % c).

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


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models and tiny matrices run fastest on one thread: on a busy 2-core machine the
    spinning OpenMP / OpenBLAS threads made a 60-step mlp run ~5x and a 50-iteration ITQ
    fit on 1,797 x 64 digits ~25x slower (1.05 s vs 0.04 s) than with one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpoolctl.threadpool_limits(1):  # numpy's BLAS (scikit-learn depends on threadpoolctl)
        yield
    torch.set_num_threads(before)


@pytest.fixture
def make_data():
    """Factory: ``make_data(n=128, d=16, c=4, seed=0, ...)`` -> SyntheticHashData."""
    return SyntheticHashData


@pytest.fixture
def toy_data():
    """128 items, 16 features, 4 classes (one label each)."""
    return SyntheticHashData()


@pytest.fixture
def as_retrieval_data():
    """Wraps a data set in the attributes ``train.fit`` reads from a RetrievalData."""

    def wrap(dataset: SyntheticHashData):
        return SimpleNamespace(train=dataset, spec="synthetic", input_shape=dataset.input_shape,
                               num_classes=dataset.y.shape[1])

    return wrap
