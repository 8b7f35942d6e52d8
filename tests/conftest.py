"""Shared fixtures. tests/ goes on sys.path first, so that the test modules in every
sub-folder (tests/retrieval/, tests/data/, tests/teaching/; no __init__.py, so every test
file's basename is unique) and the processes they spawn can ``import helpers``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("MPLBACKEND", "Agg")  # headless figures, wherever matplotlib is first imported
# What `import hashnet_lite` sets when it comes before torch (see its __init__): here torch comes
# first (below), so libgomp would busy-wait. On the busy 2-core machine the spinning threads
# (torch's and numba's) made test_shallow_inputs.py's two digits reproductions take 16.9 s, not 3.8 s.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402
import threadpoolctl  # noqa: E402
import torch  # noqa: E402
from helpers import SyntheticHashData  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Every notebook cell nbval collects is ``slow``: a lesson runs whole, its training
    included, even in smoke mode. ``-m "not slow"`` leaves the notebooks to the full run; the
    package code they call is tested in-process (tests/teaching/)."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture(autouse=True)
def close_figures():
    """Every figure a test opened is closed after it (only where matplotlib was loaded: the
    core's tests never import it)."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


@pytest.fixture(scope="module")
def clusters():
    """The lessons' data: 4 classes of 16-dim Gaussian clusters, 40 queries, 120 training items,
    200 database items (hashnet_lite.data.synthetic)."""
    from hashnet_lite.data.synthetic import gaussian_clusters

    return gaussian_clusters(4, per_class=60, n_query=10, n_train=30, dim=16, spread=1.0, seed=0)


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


@pytest.fixture
def shown(monkeypatch):
    """The figures the lessons' widgets display, as RGBA pixel arrays, in order (the display is
    replaced, so a test sees what a slider drew)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from hashnet_lite.teaching import widgets

    pictures = []

    def record(fig):
        fig.canvas.draw()
        pictures.append(np.asarray(fig.canvas.buffer_rgba()).copy())
        plt.close(fig)

    monkeypatch.setattr(widgets, "_show", record)
    return pictures


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(mib)``: a folder on a fresh tmpfs of ``mib`` MiB (unmounted after the test),
    or None where this machine cannot mount one (no root, no CAP_SYS_ADMIN, no mount): the test
    then simulates the full disk (an OSError ENOSPC where the write would fail)."""
    mounted = []

    def mount(mib: float):
        folder = tmp_path / f"tmpfs{len(mounted)}"
        folder.mkdir()
        try:
            proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(mib * 1024)}k", "tmpfs", str(folder)],
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        if proc is None or proc.returncode:
            folder.rmdir()
            return None
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True, timeout=30)
