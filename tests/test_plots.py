"""hashnet_lite.plots, the results figures that reproduce and demo write (the lesson figures:
tests/teaching/test_figures.py)."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from hashnet_lite import plots


def test_metric_vs_bits_one_line_per_method_sorted_by_bits():
    rows = [dict(method="HashNet", bits=b, precision_radius2=p) for b, p in ((32, 0.6), (16, 0.8))]
    fig = plots.metric_vs_bits(rows, "precision_radius2", "precision within radius 2", "t")
    assert fig.axes[0].lines[0].get_xdata().tolist() == [16, 32]
    assert fig.axes[0].lines[0].get_ydata().tolist() == [0.8, 0.6]
    with pytest.raises(ValueError, match="lack 'map'"):
        plots.metric_vs_bits(rows, "map", "mAP", "t")


def test_map_vs_bits_and_save_figure(tmp_path):
    rows = [dict(method=m, bits=b, map=v) for m, b, v in
            (("HashNet", 32, 0.9), ("HashNet", 16, 0.8), ("LSH", 16, 0.3))]
    fig = plots.map_vs_bits(rows)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert lines["HashNet"].get_xdata().tolist() == [16, 32] and lines["LSH"].get_ydata().tolist() == [0.3]
    path = plots.save_figure(fig, tmp_path / "sub" / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.png"]  # written atomically: no temporary left


def test_map_vs_bits_draws_bars_for_a_single_code_length():
    rows = [dict(method="HashNet", bits=32, map=0.9), dict(method="LSH", bits=32, map=0.3)]
    fig = plots.map_vs_bits(rows, title="t")
    ax = fig.axes[0]
    assert not ax.lines and [b.get_height() for b in ax.containers[0]] == [0.9, 0.3]
    assert ax.get_title() == "t, 32 bits"


def test_every_figure_function_is_used_by_the_package_or_a_lesson():
    """A figure function nothing calls is not kept: each public function of plots is called by
    the package (cli, experiments, teaching, or another function here) or by a notebook."""
    repo = Path(__file__).resolve().parents[1]
    module = (repo / "hashnet_lite" / "plots.py").read_text()
    callers = [p.read_text() for p in (repo / "hashnet_lite").rglob("*.py") if p.name != "plots.py"]
    callers += [p.read_text() for p in (repo / "notebooks").glob("*.ipynb")]
    names = [n for n, f in inspect.getmembers(plots, inspect.isfunction)
             if f.__module__ == plots.__name__ and not n.startswith("_")]
    assert "map_vs_bits" in names and "demo_figure" in names
    for name in names:
        call = re.compile(rf"\b{name}\(|\bimport [^\n]*\b{name}\b")
        used_here = len(re.findall(rf"\b{name}\(", module)) > 1  # more than its own def
        assert used_here or any(call.search(text) for text in callers), f"plots.{name} is never called"
