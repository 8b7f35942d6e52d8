"""The numbers the lessons and docs/course.md ("The notebooks") quote from the committed results
agree with results/*.json, so that no quoted number drifts from the files.

Each claim below is rebuilt from results.json with the same rounding the prose uses, and must appear
word for word in the notebook's Markdown (or docs/course.md). Trained rows reproduce within 0.005 across
thread counts (tests/test_results.py); the full-mode numbers a lesson prints from its own run are quoted
as "full mode" in the text and are checked here against the committed rows where the run is the same
(the digits preset, seed 0, 32 bits).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
COURSE = REPO / "docs" / "course.md"


def table(name: str) -> dict:
    rows = json.loads((REPO / "results" / name / "results.json").read_text())
    return {(r["method"], int(r["bits"])): float(r["map"]) for r in rows if r["map"] is not None}


D, F = table("digits"), table("fashion-mnist")
BITS = (16, 32, 48, 64)


def gaps(t: dict, method: str) -> list[float]:
    """HashNet minus ``method`` in mAP points (rounded to 0.1), by code length."""
    return [round(100 * (t["HashNet", b] - t[method, b]), 1) for b in BITS]


def above(t: dict, method: str) -> list[float]:
    """``method`` minus HashNet in mAP points (rounded to 0.01), by code length."""
    return [round(100 * (t[method, b] - t["HashNet", b]), 2) for b in BITS]


def lengths(values, where) -> str:
    """'32, 48 and 64 bits': the code lengths whose value satisfies ``where``."""
    chosen = [str(b) for b, v in zip(BITS, values) if where(v)]
    return ", ".join(chosen[:-1]) + " and " + chosen[-1] if len(chosen) > 1 else chosen[0]


def span(values, fmt="{:.3f}") -> str:
    return f"{fmt.format(min(values))} to {fmt.format(max(values))}"


def markdown(notebook: str) -> str:
    nb = json.loads(next(NOTEBOOKS.glob(f"{notebook}_*.ipynb")).read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return re.sub(r"\s+", " ", text)  # line breaks inside a sentence do not matter


CLAIMS = [
    # 01: the shallow rows (exact for LSH; ITQ within BLAS's thread-count noise at 3 decimals)
    ("01", f"ITQ reaches {D['ITQ', 64]:.3f}"),
    ("01", f"while LSH gets {D['LSH', 64]:.3f}"),
    ("01", f"mAP@all at 16 bits is {D['LSH', 16]:.3f}"),
    # 02 and 03: the full-mode runs at 32 bits are the committed digits rows at 32 bits
    ("02", f"reaches the best binary mAP ({D['HashNet', 32]:.3f})"),
    ("02", f"learns steadily ({D['HashNet-sgn', 32]:.3f})"),
    ("03", f"its binary mAP at {D['HashNet-sgn', 32]:.3f} against {D['HashNet', 32]:.3f}"),
    # 04: the Fashion-MNIST gap the clusters are compared with
    ("04", f"far from Fashion-MNIST's {span(gaps(F, 'HashNet-W'), '{:.1f}')}"),
    # 06: the committed tables
    ("06", f"HashNet-sgn is {span(gaps(D, 'HashNet-sgn'), '{:.1f}')} points below HashNet"),
    ("06", f"{D['HashNet-sgn', 16]:.3f} against {D['HashNet', 16]:.3f} at 16 bits"),
    ("06", f"{D['HashNet-sgn', 64]:.3f} against {D['HashNet', 64]:.3f} at 64 bits"),
    ("06", f"HashNet-W stays within {max(abs(g) for g in gaps(D, 'HashNet-W')):.1f} points of HashNet"),
    ("06", f"is at most {max(above(D, 'HashNet-nobin')):.2f} points above HashNet (at "
           f"{BITS[above(D, 'HashNet-nobin').index(max(above(D, 'HashNet-nobin')))]} bits), and below it at "
           f"{lengths(above(D, 'HashNet-nobin'), lambda v: v < 0)} bits"),
    # 06: the deep baselines beside HashNet, on the digits (a tie at the top) and on Fashion-MNIST (HashNet leads)
    ("06", f"DHN scores above HashNet at {lengths(above(D, 'DHN'), lambda v: v > 0)} bits "
           f"({D['DHN', 32]:.4f} against {D['HashNet', 32]:.4f} at 32 bits)"),
    ("06", f"and DPSH too (by {span([v for v in above(D, 'DPSH') if v > 0], '{:.2f}')} points), though DPSH falls "
           f"{-min(above(D, 'DPSH')):.2f} points below at 16 bits"),
    ("06", f"DSH ({span([-v for v in above(D, 'DSH')], '{:.2f}')} points below) and CSQ "
           f"({span([-v for v in above(D, 'CSQ')], '{:.2f}')} below) stay under HashNet"),
    ("06", f"by {span([-v for v in above(F, 'CSQ')], '{:.2f}')} points over CSQ, the closest, and by more over DSH "
           f"({span([-v for v in above(F, 'DSH')], '{:.2f}')}), DHN ({span([-v for v in above(F, 'DHN')], '{:.2f}')}) "
           f"and DPSH ({span([-v for v in above(F, 'DPSH')], '{:.2f}')})"),
    ("06", f"ITQ ({span([D['ITQ', b] for b in BITS])}) and LSH ({span([D['LSH', b] for b in BITS])})"),
    ("06", f"HashNet is at {span([D['HashNet', b] for b in BITS])} at every length"),
    ("06", f"HashNet-W is {span(gaps(F, 'HashNet-W'), '{:.1f}')} points below HashNet"),
    ("06", f"{gaps(F, 'HashNet-sgn')[0]:.1f} points at 16 bits to {gaps(F, 'HashNet-sgn')[-1]:.1f} at 64"),
    ("06", f"HashNet goes from {F['HashNet', 16]:.3f} at 16 bits to {F['HashNet', 64]:.3f} at 64"),
    ("06", f"differ from HashNet's by up to {max(abs(g) for g in gaps(F, 'HashNet+C')):.1f} points"),
    ("06", f"HashNet-nobin is {span([-g for g in gaps(F, 'HashNet-nobin')], '{:.1f}')} points above HashNet"),
]


@pytest.mark.parametrize("notebook, claim", CLAIMS, ids=[f"{n}:{c[:40]}" for n, c in CLAIMS])
def test_the_lessons_quote_the_committed_results(notebook, claim):
    assert claim in markdown(notebook), f"notebook {notebook} should say {claim!r} (from results/*.json)"


def test_the_claims_are_not_vacuous():
    # the rounding that the claims use still separates the methods
    assert D["HashNet", 32] != D["HashNet-sgn", 32] and gaps(F, "HashNet-W")[0] > 1
    # lesson 06's reading of the deep baselines: on the digits some beat HashNet, on Fashion-MNIST none does
    assert max(above(D, "DHN")) > 0 and all(v < 0 for m in ("DHN", "DPSH", "DSH", "CSQ") for v in above(F, m))
    # "CSQ, the closest": at every code length
    assert all(above(F, "CSQ")[i] > max(above(F, m)[i] for m in ("DSH", "DHN", "DPSH")) for i in range(len(BITS)))


def test_the_course_notebooks_section_quotes_the_committed_results():
    course = COURSE.read_text()
    section = course[course.index("## The notebooks"):]
    section = section[: section.index("\n## ", 1)]
    for value in re.findall(r"\b0\.\d{3,4}\b", section):
        assert any(abs(float(value) - v) < 5e-5 or f"{v:.3f}" == value for v in {**D, **F}.values()), (
            f"docs/course.md's notebooks section quotes {value}, which is no mAP of results/*.json")


def _full_times(text: str) -> dict:
    """{lesson number: the full-mode seconds} from a Markdown table whose rows name NN_... and end in
    '| smoke | full |'."""
    times = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*\[?`?(\d\d)[ _·].*\|\s*[\d.]+ s\s*\|\s*([\d.]+) s\s*\|\s*$", line)
        if m:
            times[m.group(1)] = float(m.group(2))
    return times


def test_the_full_mode_times_are_the_book_builds():
    """The start page's and docs/course.md's full-mode times are the execution times the HTML book's
    build recorded (docs/book/build.json), rounded to the second."""
    build = json.loads((REPO / "docs" / "book" / "build.json").read_text())
    assert build["mode"] == "full"
    recorded = {name[:2]: round(seconds) for name, seconds in build["lessons"].items()}
    start = json.loads((NOTEBOOKS / "00_start_here.ipynb").read_text())
    start_text = "\n".join("".join(c["source"]) for c in start["cells"] if c["cell_type"] == "markdown")
    course = COURSE.read_text()
    section = course[course.index("## The notebooks"):]
    for where, text, lessons in (("00_start_here", start_text, set(recorded) - {"00"}),
                                 ("docs/course.md", section, set(recorded))):
        times = _full_times(text)
        assert set(times) == lessons, (where, times)
        for lesson, seconds in times.items():
            assert seconds == recorded[lesson], f"{where}: lesson {lesson} full {seconds} s, build.json {recorded[lesson]} s"
    assert f"and {round(build['execution_seconds'])} s in full mode" in re.sub(r"\s+", " ", section)


def test_lesson_01_quotes_p_at_10_over_all_queries():
    """Lesson 01's claim about LSH's top 10 rests on every query, not on the gallery's three."""
    import numpy as np

    from hashnet_lite import retrieval
    from hashnet_lite.data import load_data
    from hashnet_lite.shallow import baseline_codes

    data = load_data("digits")
    p10 = {m: float(retrieval.precision_at_k(*baseline_codes(m, data, 16, seed=0), data.y_query, data.y_database,
                                             np.array([10]))[0]) for m in ("LSH", "ITQ")}
    assert (f"Over all {len(data.y_query)} queries, LSH's P@10 is {p10['LSH']:.3f} (ITQ's {p10['ITQ']:.3f})"
            in markdown("01")), p10
