"""The README and the documents beside it say what is true of the code.

- the README's Python example runs exactly as written and prints an mAP;
- its command-line contract names only subcommands and options the parser has, and every
  subcommand the parser has;
- its set-up and test commands are the ones .ci/run runs;
- ARCHITECTURE.md, the one module map, names every module, places each teaching module under
  the lessons that import it, and lists the data specs `load_data` accepts;
- docs/hardware.md counts the CUDA tests there are and names only real ones;
- the licence and the citation file are what pyproject and CITATION.cff's schema need;
- every relative link of the README and docs/ points at a file that exists.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
ARCHITECTURE = REPO / "ARCHITECTURE.md"


def _python_example() -> str:
    """The fenced Python block under the README's marker, in the section "From Python"."""
    readme = README.read_text()
    section = readme[readme.index("## From Python"):]
    section = section[: section.index("\n## ", 1)]
    start = section.index("<!-- python-example -->")
    return section[start:].split("```python\n", 1)[1].split("```", 1)[0]


def test_the_python_example_uses_the_digits_and_the_public_api():
    import hashnet_lite

    block = _python_example()
    assert 'load_data("digits")' in block
    imported = re.search(r"^from hashnet_lite import (.+)$", block, re.M).group(1)
    names = [n.strip() for n in imported.split(",")]
    assert set(names) <= set(hashnet_lite.__all__), set(names) - set(hashnet_lite.__all__)
    assert not re.search(r"^(from|import) ", block.replace(f"from hashnet_lite import {imported}", ""), re.M)


@pytest.mark.slow
def test_the_python_example_runs_as_written_and_prints_an_map(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", _python_example()], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[01]\.\d{4}", last), out.stdout
    assert 0.0 <= float(last) <= 1.0
    assert float(last) > 0.5  # 200 steps on the digits: far above LSH's 0.49 at 32 bits


def _cli_contract() -> list[str]:
    """The README's contract block, one command per entry (continuation lines joined)."""
    readme = README.read_text()
    section = readme[readme.index("## The command line"):]
    block = section.split("```\n", 2)[1]
    commands: list[str] = []
    for line in block.splitlines():
        if line.startswith("python -m hashnet_lite "):
            commands.append(line)
        elif line.strip():
            commands[-1] += " " + line.strip()
    return commands


def test_the_cli_contract_names_what_the_parser_has():
    import argparse

    from hashnet_lite.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    documented = {}
    for command in _cli_contract():
        name = command.split()[3]
        assert name in sub.choices, f"README documents {name!r}, the parser has {sorted(sub.choices)}"
        documented[name] = set(re.findall(r"(--[a-z][a-z-]*)", command))
    assert set(documented) == set(sub.choices), (sorted(documented), sorted(sub.choices))
    for name, options in documented.items():
        known = {s for a in sub.choices[name]._actions for s in a.option_strings}
        assert options <= known, f"{name}: the README names {sorted(options - known)}, which {name} does not take"
    assert "--method" in documented["train"] and "--methods" in documented["reproduce"]
    assert {"--jobs", "--shard"} <= documented["reproduce"] & documented["tune"]


def test_the_readme_set_up_and_test_commands_are_what_ci_runs():
    readme, ci = README.read_text(), (REPO / ".ci" / "run").read_text()
    for command in ("python3 -m venv .venv && .venv/bin/pip install -r requirements.txt",
                    "CI=1 .venv/bin/python -m pytest"):
        assert command in readme, command
        assert re.search(rf"^{re.escape(command)}(\s|$)", ci.replace(" -q ", " "), re.M), command  # pip's -q aside


# ------------------------------------------------------------------ the module map

def _architecture_code_names() -> set[str]:
    return set(re.findall(r"`([A-Za-z_][\w.]*)/?`", ARCHITECTURE.read_text()))


def test_the_module_map_names_every_module():
    named = _architecture_code_names()
    missing = []
    for path in sorted((REPO / "hashnet_lite").rglob("*.py")):
        module = path.stem if path.stem != "__init__" else path.parent.name
        if module not in named:
            missing.append(str(path.relative_to(REPO)))
    assert missing == [], f"ARCHITECTURE.md does not name {missing}"


def _notebook_teaching_imports(lesson: str) -> set[str]:
    nb = json.loads(next((REPO / "notebooks").glob(f"{lesson}_*.ipynb")).read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    modules = set(re.findall(r"hashnet_lite\.teaching\.(\w+)", code))
    for parenthesised, plain in re.findall(r"from hashnet_lite\.teaching import (?:\(([^)]*)\)|([^\n(]+))", code):
        names = re.sub(r"#[^\n]*", "", parenthesised or plain)  # a trailing comment is not a name
        modules |= {n.strip() for n in names.replace("\n", ",").split(",") if n.strip()}
    return modules


def test_the_module_map_places_each_teaching_module_under_the_lessons_that_import_it():
    text = ARCHITECTURE.read_text()
    table = text[text.index("| lesson | modules |"):].split("\n\n", 1)[0].splitlines()[2:]
    across = {"figures", "widgets", "checking", "exercises", "book"}
    rows = {}
    for line in table:
        lesson, modules = [c.strip() for c in line.strip("|").split("|")]
        rows[lesson[:2]] = set(re.findall(r"`(\w+)`", modules)) - {"PCAHash"}
    lessons = sorted(p.name[:2] for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb") if p.name[:2] != "00")
    assert sorted(rows) == lessons
    for lesson, listed in rows.items():
        imported = _notebook_teaching_imports(lesson) - across
        listed_teaching = {m for m in listed if (REPO / "hashnet_lite" / "teaching" / f"{m}.py").exists()}
        assert listed_teaching == imported, (lesson, "map:", sorted(listed_teaching), "notebook:", sorted(imported))


def test_the_module_map_lists_the_specs_load_data_accepts():
    from hashnet_lite.data import SPEC_FORMS

    text = ARCHITECTURE.read_text()
    data_row = next(line for line in text.splitlines() if line.startswith("| `data/` |"))
    specs = data_row.split("specs ", 1)[1].split(")", 1)[0]
    assert set(re.findall(r"`([^`]+)`", specs)) == {form for _, form in SPEC_FORMS.values()}
    assert "synthetic" not in SPEC_FORMS and "not a spec" in data_row  # a module, not a spec


# ------------------------------------------------------------------ licence and citation

def test_the_licence_is_mit_and_pyproject_declares_it():
    licence = (REPO / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) 2026 the hashnet_lite authors" in licence
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]


def test_the_citation_file_parses_and_cites_the_paper():
    yaml = pytest.importorskip("yaml", reason="PyYAML reads CITATION.cff (requirements.txt installs it)")
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors", "type", "license", "preferred-citation", "references"):
        assert key in cff, key
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "MIT"
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert str(cff["version"]) == version
    paper = cff["preferred-citation"]
    assert paper["title"] == "HashNet: Deep Learning to Hash by Continuation"
    assert [a["family-names"] for a in paper["authors"]] == ["Cao", "Long", "Wang", "Yu"]
    assert (paper["year"], paper["start"], paper["end"]) == (2017, 5608, 5617)
    assert "1702.00758" in paper["url"]
    assert cff["references"][0]["title"] == paper["title"]
    readme = README.read_text()
    assert "CITATION.cff" in readme and "5608--5617" in readme and "1702.00758" in readme


# ------------------------------------------------------------------ the GPU record

def _cuda_test_items() -> dict[str, int]:
    """{test function of tests/test_cuda.py: how many tests pytest makes of it (its parametrize cases)}."""
    import ast

    items = {}
    for node in ast.parse((REPO / "tests" / "test_cuda.py").read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            n = 1
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize":
                    n *= len(d.args[1].elts)
            items[node.name] = n
    return items


def test_the_hardware_record_counts_the_cuda_tests_and_names_real_ones():
    text = (REPO / "docs" / "hardware.md").read_text()
    items = _cuda_test_items()
    count = int(re.search(r"`tests/test_cuda\.py` holds (\d+) tests \((\d+) functions", text).group(1))
    functions = int(re.search(r"holds \d+ tests \((\d+) functions", text).group(1))
    assert (count, functions) == (sum(items.values()), len(items)), items
    named = set(re.findall(r"`(test_\w+)`", text))
    assert named and named <= set(items), named - set(items)


# ------------------------------------------------------------------ links

@pytest.mark.parametrize("document", ["README.md", "ARCHITECTURE.md", "docs/results.md", "docs/usage.md",
                                      "docs/course.md", "docs/hardware.md"])
def test_every_relative_link_points_at_a_file(document):
    path = REPO / document
    targets = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    broken = [t for t in targets if not re.match(r"[a-z]+:", t)
              and not (path.parent / t.split("#", 1)[0]).exists()]
    assert broken == [], broken
