"""Lesson helpers: the sliders of 01 and 06 and every slider's static
companion, the text a slider leaves where no kernel runs, PCA hashing, the step log, the
radius curves, the linear code map, the surrogate gap and the beta-as-learning-rate check."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("ipywidgets", reason="ipywidgets is part of the notebooks extra")

from helpers import sliders  # noqa: E402

from hashnet_lite import retrieval  # noqa: E402
from hashnet_lite.config import TrainConfig  # noqa: E402
from hashnet_lite.continuation import authors_beta  # noqa: E402
from hashnet_lite.teaching import embedding, gradients, neighbours, widgets  # noqa: E402
from hashnet_lite.teaching.figures import (lesson00, lesson01, lesson02, lesson03, lesson04, lesson05,  # noqa: E402
                                           lesson06)
from hashnet_lite.teaching.map_by_hand import ap_table  # noqa: E402
from hashnet_lite.teaching.shallow import PCAHash  # noqa: E402
from hashnet_lite.teaching.snapshots import Snapshot, SnapshotRun, StepLog  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RANKING = [1, 0, 1, 0, 1, 1, 0, 1]




def committed():
    return {name: json.loads((REPO / "results" / name / "results.json").read_text()) for name in ("digits", "fashion-mnist")}


# ---------------------------------------------------------------------------------- sliders
def test_the_r_slider_redraws_ap_at_r(shown):
    box = widgets.ap_explorer(RANKING, topk=5)
    found = sliders(box)
    assert list(found) == ["R"] and (found["R"].min, found["R"].max, found["R"].value) == (1, 8, 5)
    assert found["R"].continuous_update is False
    found["R"].value = 2
    assert len(shown) == 2 and not np.array_equal(shown[0], shown[1])
    with pytest.raises(ValueError, match="topk"):
        widgets.ap_explorer(RANKING, topk=9)


def test_the_bits_slider_steps_through_the_committed_code_lengths(shown):
    box = widgets.results_explorer(committed(), bits=32)
    slider = sliders(box)["bits"]
    assert (slider.min, slider.max, slider.step, slider.value) == (16, 64, 16, 32)
    slider.value = 64
    assert len(shown) == 2 and not np.array_equal(shown[0], shown[1])
    with pytest.raises(ValueError, match="bits"):
        widgets.results_explorer(committed(), bits=12)


def test_a_slider_reads_as_a_sentence_where_no_kernel_runs():
    data = widgets.ap_explorer(RANKING)._repr_mimebundle_()
    assert "VBox" not in data["text/plain"] and "'R'" in data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in data  # a live front end still draws the widget
    two = widgets.alpha_explorer()._repr_mimebundle_()["text/plain"]
    assert "'bits', 'alpha x K'" in two and "sliders" in two


def test_show_displays_through_the_patchable_hook(shown):
    widgets.show(lesson01.plot_ap_at_r(RANKING, 3))
    assert len(shown) == 1


# ------------------------------------------------------------------------ static companions
def test_ap_at_r_fills_exactly_the_counted_ranks():
    fig = lesson01.plot_ap_at_r(RANKING, 5)
    bars = fig.axes[0].patches
    heights = [b.get_height() for b in bars]
    np.testing.assert_allclose(heights, np.cumsum(RANKING) / np.arange(1, 9))
    filled = [matplotlib.colors.to_hex(b.get_facecolor()) == matplotlib.colors.to_hex("C2") for b in bars]
    assert filled == [True, False, True, False, True, False, False, False]
    assert f"{ap_table(RANKING, 5)['ap']:.3f}" in fig.axes[0].get_title()


def test_every_static_companion_draws():
    rng = np.random.default_rng(0)
    assert len(lesson01.plot_ap_at_r_panels(RANKING, (2, 5, 8)).axes) == 3
    assert len(lesson02.plot_tanh_gradient_panels(rng.normal(0, 0.5, 500), betas=(1, 4)).axes) == 4  # with twins
    assert len(lesson04.plot_similarity_probability_panels((8, 64)).axes) == 2
    assert len(lesson06.plot_ablation_panels(committed()).axes) == 8
    assert len(lesson06.plot_ablation_bars(committed(), 48).axes) == 2
    assert len(lesson00.plot_model_diagram().axes) == 1


def fake_run(iters=40, every=10, bits=6, items=4) -> SnapshotRun:
    z0 = np.random.default_rng(0).standard_normal((items, bits)).astype(np.float32)
    snaps = tuple(Snapshot(step=s, beta=authors_beta(s, gamma=0.2, step_size=every), z_probe=z0 * (1 + s / 10))
                  for s in range(0, iters + 1, every))
    return SnapshotRun(name="HashNet", config=TrainConfig(iters=iters), history=[], snapshots=snaps,
                       probe_classes=np.arange(items))


def test_binarization_steps_shows_four_steps_from_first_to_last():
    fig = lesson03.plot_binarization_steps(fake_run())
    titles = [ax.get_title() for ax in fig.axes[:4]]
    assert titles[0].startswith("step 0,") and titles[-1].startswith("step 40,")


# --------------------------------------------------------------------------- lesson helpers
def test_pca_hash_is_itq_without_its_rotation():
    x = np.random.default_rng(1).normal(size=(200, 12)) * np.arange(1, 13)
    pca = PCAHash(4).fit(x)
    v = pca.project(x)
    np.testing.assert_allclose(v.mean(0), 0, atol=1e-9)
    assert np.all(np.diff(v.var(0)) <= 1e-9)  # the principal directions, by variance
    np.testing.assert_array_equal(pca.encode(x), np.where(v >= 0, 1, -1))
    assert pca.variance_shares(x).sum() == pytest.approx(1.0)
    assert pca.quantization_loss(x) == pytest.approx(((np.sign(v) - v) ** 2).sum() / 200)
    with pytest.raises(ValueError):
        PCAHash(0)
    with pytest.raises(ValueError, match="before fit"):
        PCAHash(2).encode(x)


def test_step_log_keeps_every_step_and_draws():
    log = StepLog()
    for step in range(1, 41):
        log(step, {"loss": 0.7 - step / 100, "beta": 1 + step / 40, "quantization_error": 1 - step / 50})
    assert len(log) == 40 and log.steps[0] == 1 and log.loss[0] == pytest.approx(0.69)
    fig = lesson05.plot_training_steps(log)
    assert "step 1: 0.690" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    with pytest.raises(ValueError, match="empty"):
        lesson05.plot_training_steps(StepLog())


def test_radius_curves_count_empty_balls_and_pool_without_them():
    q = np.array([[1, 1, 1, 1], [-1, -1, -1, -1]], np.int8)
    d = np.array([[1, 1, 1, 1], [1, 1, 1, -1], [1, -1, -1, 1]], np.int8)
    yq, yd = np.array([0, 1]), np.array([0, 1, 1])
    curves = neighbours.radius_curves(q, d, yq, yd)
    # query 1 is 2 bits from its nearest item: its ball is empty at radii 0 and 1
    np.testing.assert_allclose(curves["empty"], [0.5, 0.5, 0.0, 0.0, 0.0])
    assert curves["macro"][0] == pytest.approx(0.5)  # query 0 finds its one relevant item; query 1 counts 0
    assert curves["micro"][0] == pytest.approx(1.0)  # pooled: the one item retrieved is relevant
    np.testing.assert_allclose(curves["macro"], retrieval.precision_recall_curve(q, d, yq, yd)[0])
    assert len(lesson05.plot_radius_precision({"HashNet": curves}).axes) == 2


def test_the_linear_map_keeps_hamming_neighbours_together():
    rng = np.random.default_rng(0)
    centres = np.where(rng.random((2, 32)) < 0.5, -1, 1)
    codes = np.repeat(centres, 20, axis=0).astype(np.int8)
    codes[::7, 0] *= -1  # a little noise
    xy = embedding.linear_map_codes(codes)
    assert xy.shape == (40, 2) and xy.dtype == np.float32
    a, b = xy[:20].mean(0), xy[20:].mean(0)
    assert np.linalg.norm(a - b) > 5 * max(xy[:20].std(0).max(), xy[20:].std(0).max())


def test_straight_through_trains_with_sign_so_its_quantization_error_is_zero():
    z_q = np.array([[0.01, -0.02], [0.5, -0.3]], np.float32)
    data = SimpleNamespace(y_query=np.array([0, 1]), y_database=np.array([0, 1]))
    out = gradients.evaluate_pre_activations("straight_through", z_q, z_q, data, beta=1.0)
    assert out["quantization_error"] == 0.0
    assert out["surrogate_gap"] == pytest.approx(np.abs(np.clip(z_q, -1, 1) - np.sign(z_q)).mean(), rel=1e-6)
    tanh = gradients.evaluate_pre_activations("tanh", z_q, z_q, data, beta=2.0)
    assert tanh["quantization_error"] == tanh["surrogate_gap"] == pytest.approx(
        np.abs(np.tanh(2 * z_q) - np.sign(z_q)).mean(), rel=1e-6)


@pytest.mark.parametrize("beta", [1.0, 2.5, 7.0])
def test_raising_beta_scales_the_hash_layers_gradient_by_beta(beta):
    out = gradients.beta_as_weight_scale(beta)
    assert out["output_difference"] < 1e-12
    assert out["gradient_ratio_min"] == pytest.approx(beta) and out["gradient_ratio_max"] == pytest.approx(beta)
    with pytest.raises(ValueError, match="beta"):
        gradients.beta_as_weight_scale(0.0)
    assert torch.get_default_dtype() == torch.float32  # the check leaves torch's defaults alone
