"""The lessons whose exercises build on each other (08, HashNet from scratch; 09, your own data) run
from top to bottom with the reference solutions filled in (``exercises.solution_source``, as
test_nbgrader.py submits them), in smoke mode, with every checker strict: each must pass, and the
cells that use the learner's pieces must then run them."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hashnet_lite.teaching import exercises as ex

REPO = Path(__file__).resolve().parents[2]
# lesson -> what its executed outputs must show beside every checker's "Correct"
SOLVED = {"08_hashnet_from_scratch.ipynb": ["autograd and finite differences agree", "Correct (compare_with_package)",
                                           "+ the package's loop: train()"],
          "09_your_own_data.ipynb": ["your file: mine.npz", "'R': 100, 'empty': 'skip'"]}


def solved_copy(lesson: Path, folder: Path) -> Path:
    """``lesson`` with every solution cell replaced by the reference solution, written to ``folder``."""
    nb = json.loads(lesson.read_text())
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            cell["source"] = ex.solution_source(meta["grade_id"])
    path = folder / lesson.name
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SOLVED))
def test_the_lesson_runs_with_the_reference_solutions_and_every_checker_strict(name, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("CI", "1")  # smoke mode
    monkeypatch.setenv("HASHNET_LITE_STRICT", "1")  # a checker that does not pass raises
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(str(solved_copy(REPO / "notebooks" / name, tmp_path)), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
    lesson = name[:2]
    for exercise in (e.name for e in ex.EXERCISES.values() if e.lesson == lesson):
        assert f"Correct ({exercise})" in text, exercise
    for shown in SOLVED[name]:
        assert shown in text, shown
    assert "Not yet" not in text and "Not answered" not in text
