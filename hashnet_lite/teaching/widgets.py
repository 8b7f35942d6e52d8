"""Sliders for the notebooks, wired to the package's plotting functions.

The only module of the package that imports ipywidgets. Each function returns a widget box whose sliders
(``continuous_update=False``: the figure is redrawn when the slider is released) drive one
function of ``plots`` through ``ipywidgets.interactive_output``; the figure is displayed as an
image. ipywidgets swallows exceptions raised inside a callback, so the drawing functions are
tested directly (tests/teaching/test_widgets.py), and the boxes here only pass values through.

Slider labels are a contract with the browser test (tests/test_notebooks_browser.py): each
lesson has exactly one slider with its label (01 "R", 02 "beta", 03 "step", 04 "alpha x K",
05 "query", 06 "bits", 07 "lambda", 08 "beta", 09 "R"), which the test drags in JupyterLab.
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from .figures import lesson01, lesson02, lesson03, lesson04, lesson06, lesson08, lesson09


def _show(fig) -> None:
    """Display a Figure as an image in the current output (the Output widget's) and close it,
    so that pyplot does not show it a second time."""
    from IPython.display import display

    display(fig)
    plt.close(fig)


def show(fig) -> None:
    """Display a Figure now, in cell order (a slider's static companion goes above the slider)."""
    _show(fig)


class Explorer(widgets.VBox):
    """A box of sliders above a figure. Where no widget can be drawn (GitHub, nbviewer, an
    executed HTML copy) it reads as a sentence naming its sliders, not as ``VBox(...)``; the
    lessons put a static figure of the same drawing beside every explorer."""

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        labels = [c.description for c in self.children[0].children if getattr(c, "description", "")]
        data["text/plain"] = (f"[interactive figure with the slider{'s' if len(labels) > 1 else ''} "
                              f"{', '.join(repr(x) for x in labels)}: run the notebook in Jupyter to move "
                              f"{'them' if len(labels) > 1 else 'it'}; the static figure beside it shows a few "
                              "settings]")
        return data


def explorer(draw: Callable, controls: dict) -> Explorer:
    """Sliders ``controls`` (name -> widget) above the figure ``draw(**values)`` returns."""
    out = widgets.interactive_output(lambda **values: _show(draw(**values)), controls)
    return Explorer([widgets.HBox(list(controls.values())), out])


def beta_explorer(z=None, *, beta: float = 1.0, max_beta: float = 20.0) -> Explorer:
    """A "beta" slider over ``lesson02.plot_tanh_gradient``: tanh(beta x) and its vanishing derivative
    (with the histogram of the pre-activations ``z`` when given)."""
    slider = widgets.FloatSlider(value=beta, min=0.5, max=max_beta, step=0.5, description="beta",
                                 continuous_update=False, readout_format=".1f")
    return explorer(lambda beta: lesson02.plot_tanh_gradient(beta, z), {"beta": slider})


def schedule_explorer(iters: int, *, steps_per_epoch: int, beta0: float = 1.0, gamma: float = 0.005,
                      power: float = 0.5, step_size: int = 200, epoch_step: int = 20) -> Explorer:
    """Sliders "gamma", "power" and "step size" over ``lesson03.plot_beta_schedules`` for ``iters`` steps."""
    controls = {
        "gamma": widgets.FloatLogSlider(value=gamma, base=10, min=-4, max=0, step=0.1, description="gamma",
                                        continuous_update=False, readout_format=".4f"),
        "power": widgets.FloatSlider(value=power, min=0.1, max=1.0, step=0.05, description="power",
                                     continuous_update=False),
        "step_size": widgets.IntSlider(value=step_size, min=1, max=max(step_size, iters // 4), step=1,
                                       description="step size", continuous_update=False),
    }

    def draw(gamma, power, step_size):
        return lesson03.plot_beta_schedules(iters, beta0=beta0, gamma=gamma, power=power, step_size=step_size,
                                            steps_per_epoch=steps_per_epoch, epoch_step=epoch_step)

    return explorer(draw, controls)


def snapshot_explorer(run) -> Explorer:
    """A "step" slider over the snapshots of a ``snapshots.SnapshotRun``
    (``lesson03.plot_binarization_snapshot``): the codes of a few items binarizing as beta grows."""
    steps = run.steps
    spacing = min((b - a for a, b in zip(steps, steps[1:])), default=1)
    slider = widgets.IntSlider(value=steps[0], min=steps[0], max=steps[-1], step=max(1, spacing),
                               description="step", continuous_update=False)
    return explorer(lambda step: lesson03.plot_binarization_snapshot(run, step), {"step": slider})


def alpha_explorer(bits: int = 32, alpha_times_bits: float = 10.0) -> Explorer:
    """Sliders "bits" (K) and "alpha x K" over p(s = 1) = sigmoid(alpha <h_i, h_j>)."""
    controls = {
        "bits": widgets.IntSlider(value=bits, min=4, max=128, step=4, description="bits",
                                  continuous_update=False),
        "alpha_times_bits": widgets.FloatSlider(value=alpha_times_bits, min=1.0, max=64.0, step=1.0,
                                                description="alpha x K", continuous_update=False),
    }
    return explorer(lesson04.plot_similarity_probability, controls)


def query_explorer(data, query_codes, database_codes, *, query: int = 0, k: int = 10,
                   class_names=None) -> Explorer:
    """Sliders "query" (an index into the query set) and "k" (results shown) over the gallery
    of a ``RetrievalData`` ranked by the given codes."""
    n_queries = len(data.y_query)
    if not 0 <= query < n_queries:
        raise ValueError(f"query={query!r} is invalid: expected an integer in [0, {n_queries - 1}]")
    controls = {
        "query": widgets.IntSlider(value=query, min=0, max=n_queries - 1, step=1, description="query",
                                   continuous_update=False),
        "k": widgets.IntSlider(value=k, min=1, max=min(20, len(data.y_database)), step=1, description="k",
                               continuous_update=False),
    }
    return explorer(lambda query, k: lesson01.plot_query_gallery(data, query_codes, database_codes, query, k,
                                                                 class_names=class_names), controls)


def ap_explorer(relevant, *, topk: int = 5) -> Explorer:
    """An "R" slider over ``lesson01.plot_ap_at_r``: AP@R of one ranked 0/1 list, worked out."""
    n = len(relevant)
    if not 1 <= topk <= n:
        raise ValueError(f"topk={topk!r} is invalid: expected an integer in [1, {n}]")
    slider = widgets.IntSlider(value=topk, min=1, max=n, step=1, description="R", continuous_update=False)
    return explorer(lambda R: lesson01.plot_ap_at_r(relevant, R), {"R": slider})


def results_explorer(results: dict, *, bits: int = 32) -> Explorer:
    """A "bits" slider over ``lesson06.plot_ablation_bars``: every method's mAP at one code length,
    one panel per data set (``results``: data set name -> result rows)."""
    lengths = sorted({int(r["bits"]) for rows in results.values() for r in rows})
    if bits not in lengths:
        raise ValueError(f"bits={bits!r} is invalid: expected one of {lengths}")
    steps = set(np.diff(lengths)) or {1}
    if len(steps) != 1:
        raise ValueError(f"the code lengths {lengths} are not evenly spaced: expected e.g. 16, 32, 48, 64")
    slider = widgets.IntSlider(value=bits, min=lengths[0], max=lengths[-1], step=int(steps.pop()), description="bits",
                               continuous_update=False)
    return explorer(lambda bits: lesson06.plot_ablation_bars(results, bits), {"bits": slider})


def penalty_explorer(*, penalty: float = 0.1, beta: float = 5.0) -> Explorer:
    """Sliders "lambda" (DHN's penalty weight) and "beta" (HashNet's) over ``lesson07.plot_penalty``:
    what a quantization penalty and continuation each do to the gradient that reaches z."""
    from .figures import lesson07  # here: it imports peers, and with it the training loop

    controls = {
        "penalty": widgets.FloatSlider(value=penalty, min=0.0, max=1.0, step=0.05, description="lambda",
                                       continuous_update=False),
        "beta": widgets.FloatSlider(value=beta, min=1.0, max=20.0, step=0.5, description="beta",
                                    continuous_update=False),
    }
    return explorer(lambda penalty, beta: lesson07.plot_penalty(penalty=penalty, beta=beta), controls)


def output_explorer(z, *, beta: float = 1.0, max_beta: float = 20.0) -> Explorer:
    """A "beta" slider over ``lesson08.plot_output_histograms``: a trained network's z as tanh(beta z)."""
    slider = widgets.FloatSlider(value=beta, min=0.5, max=max_beta, step=0.5, description="beta",
                                 continuous_update=False, readout_format=".1f")
    return explorer(lambda beta: lesson08.plot_output_histograms(z, (beta,)), {"beta": slider})


def r_explorer(codes_path, topks, *, value: int = 100) -> Explorer:
    """An "R" slider (1 to the database's size) marking mAP@R of a run's codes.npz, under both
    empty-query conventions, on ``lesson09.plot_map_by_r`` drawn at ``topks``."""
    from . import own_data

    curves = own_data.map_by_r(codes_path, topks)
    with np.load(codes_path) as f:
        n = len(f["database_codes"])
    slider = widgets.IntSlider(value=value, min=1, max=n, step=1, description="R", continuous_update=False)

    def draw(R):
        chosen = {k: v[0] for k, v in own_data.map_by_r(codes_path, [R]).items()}
        return lesson09.plot_map_by_r(topks, curves, R, chosen)

    return explorer(draw, {"R": slider})
