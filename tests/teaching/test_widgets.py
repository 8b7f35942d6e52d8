"""The notebooks' sliders (hashnet_lite.teaching.widgets) and the figures their callbacks draw.

ipywidgets swallows an exception raised inside a callback (the notebook shows a traceback in
the output and carries on), so each drawing function is tested directly, and each slider is
moved here with the display replaced by a recorder, so that a callback that raises fails."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets", reason="ipywidgets is part of the notebooks extra")
import ipywidgets  # noqa: E402
from helpers import image_data, random_codes, sliders  # noqa: E402

from hashnet_lite.config import TrainConfig  # noqa: E402
from hashnet_lite.continuation import authors_beta, staircase_beta  # noqa: E402
from hashnet_lite.teaching import widgets  # noqa: E402
from hashnet_lite.teaching.figures import lesson02, lesson03, lesson08  # noqa: E402
from hashnet_lite.teaching.gradients import tanh_grad  # noqa: E402
from hashnet_lite.teaching.snapshots import Snapshot, SnapshotRun  # noqa: E402




def fake_run(iters=40, every=10, bits=6, items=4) -> SnapshotRun:
    """A SnapshotRun whose pre-activations grow with the step, without training anything."""
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal((items, bits)).astype(np.float32)
    config = TrainConfig(iters=iters, gamma=0.2, step_size=every)
    snaps = tuple(Snapshot(step=s, beta=authors_beta(s, gamma=0.2, step_size=every), z_probe=z0 * (1 + s / 10),
                           quantization_error=1.0 / (1 + s), map_binary=0.5 + s / 100, map_continuous=0.6)
                  for s in range(0, iters + 1, every))
    images = rng.random((items, 8, 8)).astype(np.float32)
    return SnapshotRun(name="HashNet", config=config, history=[], snapshots=snaps,
                       probe_classes=np.arange(items), probe_images=images)


# ------------------------------------------------------------------------------ beta (notebook 02)
@pytest.mark.parametrize("beta", [0.5, 3.0, 20.0])
def test_tanh_gradient_draws_the_formulas(beta):
    z = np.random.default_rng(0).normal(0, 0.5, 1000)
    fig = lesson02.plot_tanh_gradient(beta, z)
    forward, backward = fig.axes[0], fig.axes[1]
    x = forward.lines[1].get_xdata()
    np.testing.assert_allclose(forward.lines[1].get_ydata(), np.tanh(beta * x))
    np.testing.assert_allclose(backward.lines[0].get_ydata(), tanh_grad(x, beta))
    expected = 100 * np.mean(beta * (1 - np.tanh(beta * z) ** 2) < 0.01 * beta)
    gap = np.abs(np.tanh(beta * z) - np.sign(z)).mean()
    assert "1,000 values z" in fig._suptitle.get_text()
    assert f"for {expected:.0f}% of them" in fig._suptitle.get_text()
    assert f"mean |tanh(beta z) - sign(z)| = {gap:.2f}" in fig._suptitle.get_text()


def test_beta_slider_contract_and_redraw(shown):
    box = widgets.beta_explorer(np.linspace(-1, 1, 50))
    found = sliders(box)
    assert list(found) == ["beta"]  # the browser test looks for exactly one slider labelled "beta"
    slider = found["beta"]
    assert isinstance(slider, ipywidgets.FloatSlider) and slider.continuous_update is False
    assert len(shown) == 1  # drawn once when built
    slider.value = 12.0
    assert len(shown) == 2 and not np.array_equal(shown[0], shown[1])


# ------------------------------------------------------------------------------ schedules (notebook 03)
def test_beta_schedules_draws_the_continuation_functions():
    fig = lesson03.plot_beta_schedules(300, gamma=0.02, power=0.5, step_size=50, steps_per_epoch=7, epoch_step=3)
    ax = fig.axes[0]
    smooth, authors, epochs = ax.lines[:3]
    t = np.arange(301)
    np.testing.assert_allclose(smooth.get_ydata(), (1 + 0.02 * t) ** 0.5)
    np.testing.assert_allclose(authors.get_ydata(), [authors_beta(s, gamma=0.02, step_size=50) for s in t])
    np.testing.assert_allclose(epochs.get_ydata(), [staircase_beta(s // 7, epoch_step=3) for s in t])
    with pytest.raises(ValueError, match="steps_per_epoch"):
        lesson03.plot_beta_schedules(10, steps_per_epoch=0)


def test_schedule_sliders_redraw_and_keep_clear_of_the_step_label(shown):
    box = widgets.schedule_explorer(600, steps_per_epoch=7, gamma=0.02, step_size=50)
    found = sliders(box)
    assert set(found) == {"gamma", "power", "step size"}  # not "step": that label is the snapshot slider's
    assert all(s.continuous_update is False for s in found.values())
    found["gamma"].value = 0.2
    found["step size"].value = 10
    assert len(shown) == 3 and not np.array_equal(shown[0], shown[1]) and not np.array_equal(shown[1], shown[2])


# ------------------------------------------------------------------------------ snapshots (notebook 03)
def test_binarization_snapshot_draws_the_snapshot_at_the_step():
    run = fake_run()
    fig = lesson03.plot_binarization_snapshot(run, 25)  # the snapshot of step 20
    heat = [im for ax in fig.axes for im in ax.images if im.get_array().shape == (4, 6)][0]
    snap = run.at(25)
    assert snap.step == 20
    np.testing.assert_allclose(heat.get_array(), np.tanh(snap.beta * snap.z_probe), rtol=1e-6)
    assert "step 20 of 40" in fig._suptitle.get_text()
    thumbnails = [child for ax in fig.axes for child in ax.child_axes if child.images]
    assert len(thumbnails) == 4  # one picture per row, beside it
    np.testing.assert_array_equal(thumbnails[2].images[0].get_array(), run.probe_images[2])


def test_binarization_snapshot_without_pictures():
    run = fake_run()
    run = SnapshotRun(name=run.name, config=run.config, history=[], snapshots=run.snapshots,
                      probe_classes=run.probe_classes, probe_images=None)
    fig = lesson03.plot_binarization_snapshot(run, 0)
    assert sum(len(ax.images) + len(ax.child_axes) for ax in fig.axes) == 1  # the heat map alone


def test_step_slider_contract_and_redraw(shown):
    run = fake_run()
    box = widgets.snapshot_explorer(run)
    found = sliders(box)
    assert list(found) == ["step"]
    slider = found["step"]
    assert isinstance(slider, ipywidgets.IntSlider) and slider.continuous_update is False
    assert (slider.min, slider.max, slider.step, slider.value) == (0, 40, 10, 0)
    slider.value = 30
    assert len(shown) == 2 and not np.array_equal(shown[0], shown[1])


def test_callback_errors_reach_the_caller(monkeypatch, shown):
    """Outside a kernel the Output widget does not swallow exceptions, so these tests see them."""
    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    box = widgets.beta_explorer()
    monkeypatch.setattr(lesson02, "plot_tanh_gradient", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        sliders(box)["beta"].value = 2.0


# ------------------------------------------------------------------------------ alpha (notebook 04)
def test_alpha_sliders_redraw(shown):
    box = widgets.alpha_explorer(bits=24)
    found = sliders(box)
    assert set(found) == {"bits", "alpha x K"}
    assert found["bits"].value == 24 and all(not s.continuous_update for s in found.values())
    found["alpha x K"].value = 30.0
    assert len(shown) == 2 and not np.array_equal(shown[0], shown[1])


# ------------------------------------------------------------------------------ queries (notebook 05)
def test_query_sliders_redraw(shown):
    data = image_data()
    rng = np.random.default_rng(0)
    q, d = random_codes(rng, len(data.y_query), 6), random_codes(rng, len(data.y_database), 6)
    box = widgets.query_explorer(data, q, d, query=2, k=4)
    found = sliders(box)
    assert set(found) == {"query", "k"}
    assert all(not s.continuous_update for s in found.values())
    assert found["query"].max == len(data.y_query) - 1
    found["query"].value = 0
    assert len(shown) == 2 and not np.array_equal(shown[0], shown[1])
    with pytest.raises(ValueError, match="query=99"):
        widgets.query_explorer(data, q, d, query=99)


def test_the_schedule_panels_move_one_slider_per_panel():
    from hashnet_lite.continuation import authors_beta

    fig = lesson03.plot_beta_schedule_panels(600, gamma=0.02, power=0.5, step_size=50)
    assert len(fig.axes) == 3 and all(len(ax.lines) == 3 for ax in fig.axes)
    finals = [float(line.get_ydata()[-1]) for line in fig.axes[0].lines]  # gamma / 4, gamma, 4 gamma
    assert finals == sorted(finals) and finals[1] == authors_beta(600, gamma=0.02, power=0.5, step_size=50)


def test_the_output_slider_of_lesson_08_redraws(shown):
    box = widgets.output_explorer(np.linspace(-1, 1, 200), beta=1.0)
    found = sliders(box)
    assert list(found) == ["beta"] and found["beta"].continuous_update is False
    found["beta"].value = 8.0
    assert len(shown) == 2 and not np.array_equal(shown[0], shown[1])
    assert len(lesson08.plot_output_histograms(np.linspace(-1, 1, 50), (1.0, 3.0, 9.0)).axes) == 3


def test_the_r_slider_of_lesson_09_redraws(shown, tmp_path):
    from hashnet_lite.teaching import own_data

    path = tmp_path / "codes.npz"
    own_data._report_codes(path)
    box = widgets.r_explorer(path, [1, 5, 20, 60], value=5)
    found = sliders(box)
    assert list(found) == ["R"] and isinstance(found["R"], ipywidgets.IntSlider) and found["R"].max == 60
    found["R"].value = 20
    assert len(shown) == 2 and not np.array_equal(shown[0], shown[1])
    curves = own_data.map_by_r(path, [5, 60])
    assert curves["skip"][0] >= curves["zero"][0] and curves["skip"][1] == curves["zero"][1]  # R = all: the same
