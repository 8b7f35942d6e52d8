"""Lesson 07's helpers: the gradients of penalty and continuation, curves over training."""
from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib.figure
import numpy as np
import pytest
import torch
from helpers import SyntheticHashData

from hashnet_lite.config import TrainConfig
from hashnet_lite.teaching import peers
from hashnet_lite.teaching.figures import lesson07


def test_penalty_gradients_match_autograd():
    z = torch.linspace(-3, 3, 41, dtype=torch.float64, requires_grad=True)
    h = torch.tanh(z)
    (0.3 * torch.log(torch.cosh(h.abs() - 1.0))).sum().backward()
    g = peers.penalty_gradients(z.detach().numpy(), penalty=0.3, beta=4.0)
    np.testing.assert_allclose(g["penalty"], z.grad.numpy(), atol=1e-12)
    zc = z.detach().clone().requires_grad_(True)
    torch.tanh(4.0 * zc).sum().backward()
    np.testing.assert_allclose(g["continuation"], zc.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(g["tanh"], 1 - np.tanh(g["z"]) ** 2)


def test_train_with_curves_records_every_few_steps_and_the_last():
    ds = SyntheticHashData(n=96, d=16, c=4)
    data = SimpleNamespace(train=ds, query=ds, database=ds, y_query=ds.classes.numpy(),
                           y_database=ds.classes.numpy(), input_shape=(16,))
    config = TrainConfig(bits=8, backbone="mlp", hidden=16, batch_size=32, iters=25, lr=0.03, log_every=5)
    for method in ("HashNet", "DHN"):
        run = peers.train_with_curves(data, config, method, every=10)
        assert run.name == method and run.steps == [10, 20, 25]
        assert len(run.map) == len(run.quantization_error) == 3
        assert all(0.0 <= m <= 1.0 for m in run.map) and all(q >= 0 for q in run.quantization_error)
    with pytest.raises(ValueError, match="every=0"):
        peers.train_with_curves(data, config, "HashNet", every=0)


def test_figures_and_the_results_table(tmp_path):
    assert isinstance(lesson07.plot_penalty(0.2, 3.0), matplotlib.figure.Figure)
    run = peers.Curves("HashNet", [1, 2], [0.5, 0.2], [0.6, 0.8])
    assert isinstance(lesson07.plot_curves([run]), matplotlib.figure.Figure)
    with pytest.raises(ValueError, match="runs is empty"):
        lesson07.plot_curves([])
    rows = [{"method": "LSH", "bits": 32, "map": 0.3}, {"method": "DHN", "bits": 32, "map": 0.9},
            {"method": "HashNet", "bits": 16, "map": 0.7}, {"method": "HashNet", "bits": 32, "map": 0.8}]
    (tmp_path / "results.json").write_text(json.dumps(rows))
    assert list(peers.results_table(tmp_path, bits=32).items()) == [("HashNet", 0.8), ("DHN", 0.9), ("LSH", 0.3)]
    with pytest.raises(FileNotFoundError, match="results.json"):
        peers.results_table(tmp_path / "none")


def test_penalty_sliders_redraw(shown):
    from helpers import sliders

    from hashnet_lite.teaching import widgets

    box = widgets.penalty_explorer(penalty=0.2)
    found = sliders(box)
    assert set(found) == {"lambda", "beta"} and all(not s.continuous_update for s in found.values())
    found["lambda"].value = 0.5
    assert len(shown) == 2  # drawn once on creation, once after the slider moved


def test_the_hadamard_exercise_checker():
    from hashnet_lite.teaching import exercises

    assert exercises.check_hadamard_centres(exercises._reference_hadamard_centres).passed
    assert exercises.check_hadamard_centres(None).status == exercises.OPEN
    random_rows = lambda c, k: np.where(np.random.default_rng(0).random((c, k)) < 0.5, -1.0, 1.0)  # noqa: E731
    wrong = exercises.check_hadamard_centres(random_rows)
    assert wrong.status == exercises.WRONG and "apart" in wrong.message or "equal" in wrong.message
    with pytest.raises(AssertionError):
        exercises.check_hadamard_centres(lambda c, k: np.ones((c, k)), strict=True)


def test_the_numbers_lesson_07_quotes_are_the_committed_results():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    text = "".join("".join(c["source"]) for c in json.loads(
        (repo / "notebooks" / "07_hashnet_among_its_peers.ipynb").read_text())["cells"] if c["cell_type"] == "markdown")
    mosaic = peers.results_table(repo / "results" / "fashion-mosaic", bits=32)
    fashion = peers.results_table(repo / "results" / "fashion-mnist", bits=32)
    assert f"{mosaic['DHN']:.4f}" in text and f"{mosaic['DSH']:.4f}" == f"{mosaic['DHN']:.4f}"
    assert f"{mosaic['HashNet-W']:.3f} against {mosaic['HashNet']:.3f}" in text
    assert round(100 * (mosaic["CSQ"] - mosaic["HashNet"])) == 2  # "beats HashNet by about 2 points"
    baselines = {m: fashion[m] for m in ("DHN", "DPSH", "DSH", "CSQ")}
    best = max(baselines, key=baselines.get)
    assert f"{best}, the strongest baseline here, by {100 * (fashion['HashNet'] - fashion[best]):.1f} points" in text
    assert f"DHN by about {round(100 * (fashion['HashNet'] - fashion['DHN']))}." in " ".join(text.split())
    assert f"about {round(100 * (fashion['HashNet-nobin'] - fashion['HashNet']))} points" in text


def test_the_penalty_panels_show_several_settings_and_the_push_is_largest_at_zero():
    fig = lesson07.plot_penalty_panels(penalties=(0.1, 0.5), betas=(1.0, 5.0, 10.0))
    left, right = fig.axes
    assert len(left.lines) == 2 + 1 and len(right.lines) == 3 + 1  # the settings and the zero line
    z = np.linspace(1e-6, 3, 300)
    push = np.abs(peers.penalty_gradients(z, penalty=1.0, beta=1.0)["penalty"])
    assert np.all(np.diff(push) < 0) and abs(push[0] - np.tanh(1.0)) < 1e-4  # 0.76 lambda at z = 0+, then falling
