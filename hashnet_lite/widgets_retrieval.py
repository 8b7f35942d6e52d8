"""A query picker for the retrieval gallery (notebook 05).

Imports ipywidgets (with ``widgets``, the only modules that do). The sliders drive
``plots.query_gallery`` through ``widgets.explorer`` (``interactive_output``, redrawn when a
slider is released); ipywidgets swallows exceptions raised in the callback, so
``plots.query_gallery`` is tested directly (tests/test_gallery.py).
"""
from __future__ import annotations

import ipywidgets as widgets

from . import plots
from .widgets import explorer


def query_explorer(data, query_codes, database_codes, *, query: int = 0, k: int = 10,
                   class_names=None) -> widgets.VBox:
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
    return explorer(lambda query, k: plots.query_gallery(data, query_codes, database_codes, query, k,
                                                         class_names=class_names), controls)
