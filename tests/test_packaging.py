"""The installed package, not the checkout: a wheel built from this tree, installed into a
scratch folder, runs the demo from outside the repository with the compiled retrieval kernels.

`pip install .` must give what the checkout gives: every subpackage (data/, retrieval/,
teaching/), numba (declared in pyproject), without which mAP is ~10x slower, and the MIT
licence in the wheel's metadata.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_installs_and_runs_the_demo_from_outside_the_repository(tmp_path):
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel = next(wheels.glob("hashnet_lite-*.whl"))
    with zipfile.ZipFile(wheel) as zf:  # the licence travels with the package (PEP 639)
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata, metadata[:2000]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    subprocess.run(pip + ["install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(target)}
    check = ("import hashnet_lite, hashnet_lite.retrieval.kernels as k, hashnet_lite.teaching.figures.lesson01, "
             "hashnet_lite.data.images; print(hashnet_lite.__file__); print(k.USE_NUMBA)")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, cwd=work,
                         check=True).stdout.split()
    assert Path(out[0]).is_relative_to(target), out  # the installed copy, not the checkout
    assert out[1] == "True"  # numba: the compiled kernels
    demo = subprocess.run([sys.executable, "-m", "hashnet_lite", "demo", "--iters", "30", "--no-progress",
                           "--out", str(work / "demo")], capture_output=True, text=True, env=env, cwd=work)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "HashNet" in demo.stdout and (work / "demo" / "demo.png").is_file()
