"""Course staff grade the lessons with nbgrader, as they are: the lesson is the source version.

Two lessons (01, the quickest; 08, whose class holds three solution regions and whose last grade
needs the others) go through nbgrader's own commands in a temporary course directory:
``generate_assignment`` (solution regions replaced by nbgrader's stub, checks kept), a submission
with the reference solutions (``exercises.solution_source``) and one with a wrong answer, then
``autograde`` (the lesson runs in smoke mode; the checkers are strict
because nbgrader sets NBGRADER_EXECUTION). The reference gets full marks, the wrong answer not.
Also: every lesson's nbgrader metadata pairs each solution cell with its checker.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hashnet_lite.teaching import exercises

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("0[1-9]_*.ipynb")), ids=lambda p: p.name[:2])
def test_every_exercise_is_a_solution_cell_followed_by_its_autograded_check(path):
    cells = _cells(path)
    solutions = [(i, _meta(c)) for i, c in enumerate(cells) if _meta(c).get("solution")]
    lesson = path.name[:2]
    expected = sorted(e.name for e in exercises.EXERCISES.values() if e.lesson == lesson)
    assert sorted(m["grade_id"] for _, m in solutions) == expected
    for i, meta in solutions:
        source = "".join(cells[i]["source"])
        assert "### BEGIN SOLUTION" in source and "### END SOLUTION" in source
        assert meta["grade"] is False and meta["schema_version"] == 3
        check = cells[i + 1]
        check_meta = _meta(check)
        assert check_meta.get("grade") is True and check_meta.get("locked") is True and check_meta["points"] >= 1
        assert f"check_{meta['grade_id']}(" in "".join(check["source"])


def _nbgrader():
    exe = Path(sys.executable).parent / "nbgrader"
    if not exe.exists():
        pytest.skip(f"nbgrader is not installed next to {sys.executable} (pip install nbgrader)")
    return str(exe)


def _run(args, course: Path, env: dict) -> str:
    out = subprocess.run([_nbgrader(), *args], cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def _submit(released: Path, target: Path, answers: dict) -> None:
    nb = json.loads(released.read_text())
    for cell in nb["cells"]:
        grade_id = _meta(cell).get("grade_id")
        if _meta(cell).get("solution") and grade_id in answers:
            cell["source"] = answers[grade_id]
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(nb))


WRONG_HAMMING = '''def hamming_distance(a, b):
    return a.astype(float) @ b.T  # the inner product, not the distance
'''

WRONG_LOOP = '''def train_loop(model, batches, config, loss_fn, beta_fn):
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)  # one learning rate for both
    losses = []
    for step, (x, y) in enumerate(batches):
        loss = loss_fn(model(x, beta_fn(step, config)), y, 10 / config.bits)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''

# lesson -> (the wrong answer bob submits, what its checker says, alice's and bob's (score, max score)):
# in 08 a wrong loop also leaves nothing trained to compare with fit(), so bob loses that grade too
ROUND_TRIPS = {"01_hamming_space.ipynb": ("hamming_distance", WRONG_HAMMING, "inner product", (2.0, 2.0), (1.0, 2.0)),
               "08_hashnet_from_scratch.ipynb": ("train_loop", WRONG_LOOP, "hash_lr_mult", (6.0, 6.0), (3.0, 6.0))}


@pytest.mark.slow
@pytest.mark.parametrize("lesson", sorted(ROUND_TRIPS), ids=lambda name: name[:2])
def test_nbgrader_generate_and_autograde_one_lesson(tmp_path, lesson):
    wrong_name, wrong_source, phrase, full, partial = ROUND_TRIPS[lesson]
    assignment = f"lesson{lesson[:2]}"
    course = tmp_path / "course"
    (course / "source" / assignment).mkdir(parents=True)
    shutil.copy(NOTEBOOKS / lesson, course / "source" / assignment / lesson)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'hashnet_lite'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course}/gradebook.db'\n"
        "c.Execute.timeout = 600\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBGRADER", "HASHNET_LITE_STRICT"))}
    # nbgrader runs `alembic` from PATH: the environment's own bin first
    env.update(CI="1", MPLBACKEND="Agg", JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    for student in ("alice", "bob"):
        _run(["db", "student", "add", student], course, env)
    _run(["generate_assignment", assignment, "--force"], course, env)

    released = course / "release" / assignment / lesson
    stubs = {_meta(c)["grade_id"]: "".join(c["source"]) for c in _cells(released) if _meta(c).get("solution")}
    names = sorted(e.name for e in exercises.EXERCISES.values() if e.lesson == lesson[:2])
    assert sorted(stubs) == names
    for name, stub in stubs.items():  # the learner's signature stays, each region becomes nbgrader's stub
        exercise = exercises.EXERCISES[name]
        keyword = "class" if exercise.kind == "class" else "def"
        assert f"{keyword} {exercise.defines}(" in stub and "# YOUR CODE HERE" in stub and "SOLUTION" not in stub, stub
    assert f"check_{wrong_name}({wrong_name})" in released.read_text()

    reference = {name: exercises.solution_source(name) for name in names}
    _submit(released, course / "submitted" / "alice" / assignment / lesson, reference)
    _submit(released, course / "submitted" / "bob" / assignment / lesson, {**reference, wrong_name: wrong_source})
    _run(["autograde", assignment, "--force"], course, env)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        scores = {s: (gb.find_submission(assignment, s).score, gb.find_submission(assignment, s).max_score)
                  for s in ("alice", "bob")}
    assert scores["alice"] == full, scores  # the reference solutions: full marks
    assert scores["bob"] == partial, scores  # the wrong answer: its check fails
    graded = (course / "autograded" / "bob" / assignment / lesson).read_text()
    assert phrase in graded  # the strict checker's message, in the graded copy
