"""Sliders for the pairwise likelihood's adaptive sigmoid (notebook 04).

Imports ipywidgets (with ``widgets``, the only modules that do). The sliders drive
``plots.similarity_probability`` through ``widgets.explorer``; that function is tested
directly (tests/test_imbalance.py), since ipywidgets swallows exceptions in callbacks.
"""
from __future__ import annotations

import ipywidgets as widgets

from . import plots
from .widgets import explorer


def alpha_explorer(bits: int = 32, alpha_times_bits: float = 10.0) -> widgets.VBox:
    """Sliders "bits" (K) and "alpha x K" over p(s = 1) = sigmoid(alpha <h_i, h_j>)."""
    controls = {
        "bits": widgets.IntSlider(value=bits, min=4, max=128, step=4, description="bits",
                                  continuous_update=False),
        "alpha_times_bits": widgets.FloatSlider(value=alpha_times_bits, min=1.0, max=64.0, step=1.0,
                                                description="alpha x K", continuous_update=False),
    }
    return explorer(plots.similarity_probability, controls)
