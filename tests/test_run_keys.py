"""Every committed result row keeps its run key under today's code.

A row's ``run`` is a hash of the study's config, its data and its conventions
(``result_rows.run_key``). A config field added without being marked late, a default that
moves, or a change to how precision is written would change the key of every committed row,
and the next ``reproduce`` into its folder would refuse them all as "made otherwise". So the
key of each row in results/ is derived again here: the study's config is rebuilt from the
folder's HashNet row (through ``TrainConfig.from_dict``, which reads old field forms) and the
preset's values that ``tune``'s choices replace, then checked twice: the registry gives each
trained row's method exactly the config the row holds, and ``run_key`` gives its key.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hashnet_lite.config import TrainConfig
from hashnet_lite.result_rows import _config_diffs, run_key
from hashnet_lite.methods import REGISTRY, tuned
from hashnet_lite.presets import preset_config, preset_name

RESULTS = Path(__file__).resolve().parents[1] / "results"
FOLDERS = sorted(p.parent for p in RESULTS.rglob("results.json"))


def _study_config(rows: list[dict], preset: str) -> TrainConfig:
    """The config a folder's study was run with: its HashNet row's, with the preset's learning
    rate, hash-layer multiplier and alpha where ``tune``'s choices replaced them."""
    row = next(r for r in rows if r["method"] == "HashNet" and r.get("config", {}).get("method") == "HashNet")
    config = TrainConfig.from_dict(row["config"])
    if tuned(preset, row["bits"]).get("HashNet"):
        base, _ = preset_config(preset, bits=row["bits"])
        config = dataclasses.replace(config, lr=base.lr, hash_lr_mult=base.hash_lr_mult, alpha=base.alpha)
    return config


def test_the_committed_results_are_found():
    assert len(FOLDERS) >= 9, FOLDERS


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_committed_row_keeps_its_run_key(folder):
    rows = json.loads((folder / "results.json").read_text())
    fingerprint = rows[0]["data_fingerprint"]
    preset = preset_name(str(fingerprint["spec"]).partition(":")[0].lower(), tuple(fingerprint["input_shape"]))
    study = _study_config(rows, preset)
    checked = 0
    for row in rows:
        at_bits = dataclasses.replace(study, bits=row["bits"])
        assert run_key(row["data_fingerprint"], at_bits, row["topk"]) == row["run"], (row["method"], row["bits"])
        if REGISTRY[row["method"]].kind == "trained" and "status" not in row:
            assert _config_diffs(row, at_bits, preset) == [], (row["method"], row["bits"])
        checked += 1
    assert checked == len(rows)
