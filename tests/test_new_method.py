"""A new deep baseline is one loss and one record in deep_baselines.py.

The registry, the configs, tune's search, the CLI's help and the plots read the records
(``deep_baselines.DEEP_BASELINES``). This test copies the package, adds a method to that one
file only (a contrastive-free "pull to the class mean" loss, nothing the package ships), and
trains and evaluates it through the CLI beside HashNet: the table holds its row.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NEW_METHOD = '''

def mean_pull_loss(h, labels, weight=0.5):
    """A toy method: each code pulled to the mean code of its class in the batch."""
    y = labels.float()
    centres = (y.T @ h) / y.sum(0).clamp(min=1.0)[:, None]  # (C, K)
    target = (y @ centres) / y.sum(1, keepdim=True).clamp(min=1.0)
    return ((h - target) ** 2).mean() + weight * _log_cosh(h.abs() - 1.0).mean()


DEEP_BASELINES = MappingProxyType({**DEEP_BASELINES, "MEANPULL": DeepBaseline(
    "MEANPULL", "tanh", mean_pull_loss, MappingProxyType({"weight": 0.5}), "A test's own method.",
    "codes pulled to their class's mean code", "weight", trade_offs=(0.5, 0.1), authors=(10.0, 0.5),
    style=MappingProxyType(dict(color="C1", marker="x", linestyle="-.")))})
'''


@pytest.mark.slow
def test_a_new_deep_baseline_touches_one_file(tmp_path):
    package = tmp_path / "hashnet_lite"
    shutil.copytree(ROOT / "hashnet_lite", package, ignore=shutil.ignore_patterns("__pycache__"))
    with open(package / "deep_baselines.py", "a") as f:
        f.write(NEW_METHOD)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "study"
    cmd = [sys.executable, "-m", "hashnet_lite", "reproduce", "--data", "digits", "--bits", "8", "--iters", "30",
           "--methods", "HashNet", "MEANPULL", "--no-progress", "--device", "cpu", "--out", str(out)]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["method"]: r for r in json.loads((out / "results.json").read_text())}
    assert set(rows) == {"HashNet", "MEANPULL"}
    assert rows["MEANPULL"]["config"]["method"] == "MEANPULL" and 0 <= rows["MEANPULL"]["map"] <= 1
    assert rows["MEANPULL"]["hyperparameters"] == {"weight": 0.5}
    assert "MEANPULL" in (out / "results.md").read_text()
    helped = subprocess.run([sys.executable, "-m", "hashnet_lite", "tune", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert "MEANPULL" in helped.stdout
