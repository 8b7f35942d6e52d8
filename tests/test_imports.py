"""The package's shape: what importing it loads, and what imports what.

- the core imports headless and light: no plotting, widget, notebook or UMAP library;
- the import graph (imports inside functions included) has no cycle;
- no module imports a private name from outside its own subpackage;
- the core never imports the teaching layer;
- the public API is importable from the top.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hashnet_lite"
HEAVY = ("matplotlib", "ipywidgets", "umap", "seaborn", "pandas", "IPython")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str, modules: dict) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, path: Path, modules: dict):
    """(imported module, imported names) for every import statement in the file, at any depth."""
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("hashnet_lite"):
                    yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("hashnet_lite"):
                continue
            names = [a.name for a in node.names]
            submodules = [n for n in names if f"{target}.{n}" in modules]  # "from . import retrieval"
            if len(submodules) < len(names):
                yield target, [n for n in names if n not in submodules]
            for n in submodules:
                yield f"{target}.{n}", []


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {t for t, _ in _imports(name, path, modules) if t in modules and t != name}
            for name, path in modules.items()}


@pytest.mark.slow  # a child interpreter imports torch afresh
def test_the_core_imports_no_plotting_widget_or_notebook_library():
    code = ("import json, sys\n"
            "import hashnet_lite, hashnet_lite.train, hashnet_lite.retrieval, hashnet_lite.data\n"
            "from hashnet_lite import TrainConfig, fit, encode, load_model, load_data, preset_for, "
            "mean_average_precision, HammingIndex\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function(tmp_path, monkeypatch):
    # The graph walks every import, also those inside functions, where a cycle hides most easily.
    fake = tmp_path / "hashnet_lite"
    (fake / "sub").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "a.py").write_text("from .b import x\n")
    (fake / "b.py").write_text("def f():\n    from . import a\n")
    (fake / "sub" / "__init__.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert _graph()["hashnet_lite.b"] == {"hashnet_lite.a"}
    assert _graph()["hashnet_lite.a"] == {"hashnet_lite.b"}


def _subpackage(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or name in ("hashnet_lite.retrieval", "hashnet_lite.data",
                                                                "hashnet_lite.teaching") else name


def test_no_private_name_is_imported_from_outside_its_subpackage():
    modules = _modules()
    offences = []
    for name, path in modules.items():
        for target, names in _imports(name, path, modules):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and _subpackage(target) != _subpackage(name):
                offences.append(f"{name} imports {private} from {target}")
    assert offences == []


def test_the_core_never_imports_the_teaching_layer():
    graph = _graph()
    offenders = sorted(m for m, deps in graph.items()
                       if not m.startswith("hashnet_lite.teaching")
                       and any(d.startswith("hashnet_lite.teaching") for d in deps))
    assert offenders == []


def test_the_public_api():
    import hashnet_lite

    for name in hashnet_lite.__all__:
        assert getattr(hashnet_lite, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hashnet_lite.nope  # noqa: B018
