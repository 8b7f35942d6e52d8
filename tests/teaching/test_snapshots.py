"""hashnet_lite.teaching.snapshots (notebook 03): codes recorded as beta grows, without
changing the run."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import small_config

from hashnet_lite.continuation import beta_at
from hashnet_lite.teaching import snapshots
from hashnet_lite.train import fit


def test_snapshot_steps_and_probe_indices():
    assert snapshots.snapshot_steps(10, 5) == [0, 5, 10]
    assert snapshots.snapshot_steps(12, 5) == [0, 5, 10, 12]
    with pytest.raises(ValueError, match="every"):
        snapshots.snapshot_steps(10, 0)
    np.testing.assert_array_equal(snapshots.probe_indices([2, 0, 1, 0, 2, 1], per_class=1), [1, 2, 0])
    np.testing.assert_array_equal(snapshots.probe_indices([2, 0, 1, 0, 2, 1], per_class=2), [1, 3, 2, 5, 0, 4])


def test_snapshots_leave_the_run_unchanged(clusters):
    config = small_config()
    run = snapshots.train_with_snapshots(clusters, config, every=10, probe_per_class=3)
    _, history = fit(clusters, config, progress=False)
    assert [h["loss"] for h in run.history] == [h["loss"] for h in history]
    assert run.steps == [0, 10, 20, 30]
    assert [s.beta for s in run.snapshots] == [beta_at(0, config)] + [beta_at(s - 1, config) for s in (10, 20, 30)]
    assert run.snapshots[0].z_probe.shape == (12, 8) and run.probe_images is None
    assert list(run.probe_classes) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    last = run.snapshots[-1]
    np.testing.assert_allclose(last.h_probe, np.tanh(last.beta * last.z_probe))
    # training separates the classes: mAP at the end beats the untrained network's
    assert last.map_binary > run.snapshots[0].map_binary
    assert 0 <= last.quantization_error < run.snapshots[0].quantization_error


def test_snapshot_run_lookup(clusters):
    run = snapshots.train_with_snapshots(clusters, small_config(iters=10), every=4, evaluate=False)
    assert run.steps == [0, 4, 8, 10]
    assert [run.at(s).step for s in (0, 3, 4, 9, 10, 99)] == [0, 0, 4, 8, 10, 10]
    assert run.snapshots[1].map_binary is None
    steps, betas = run.series("beta")
    assert steps == run.steps and len(betas) == 4
    with pytest.raises(ValueError, match="step"):
        run.at(-1)
    with pytest.raises(ValueError, match="key"):
        run.series("nope")


def test_snapshots_keep_pictures_of_image_items():
    from hashnet_lite.data import split_arrays

    x = torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(0))  # 4x4 pictures in [0, 1]
    images = split_arrays("tiny", x, np.arange(60) % 3, seed=0, n_query=4, n_train=10, database="rest",
                          topk=None, name="tiny")
    run = snapshots.train_with_snapshots(images, small_config(iters=4, backbone="cnn"), every=2,
                                         probe_per_class=2, evaluate=False)
    assert run.probe_images.shape == (6, 4, 4)
    first_query = images.query[0][0][0].numpy()
    np.testing.assert_allclose(run.probe_images[0], first_query)
