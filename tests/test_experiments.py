"""What ``experiments.reproduce`` is made of, below the CLI: the method list and the ablation
configs (methods), evaluation under the package's convention (conventions) and the results
table with the published numbers read from presets.PROTOCOLS (report). The CLI contract end
to end: test_cli.py; the rows on disk: test_run_state.py and test_parallel_rows.py."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import random_codes

from hashnet_lite import retrieval
from hashnet_lite.config import TrainConfig
from hashnet_lite.conventions import evaluate
from hashnet_lite.methods import NAMES, check_methods, method_config
from hashnet_lite.presets import PROTOCOLS
from hashnet_lite.report import results_markdown
from hashnet_lite.teaching.reproduction import table_markdown


def test_check_methods():
    assert check_methods(["ITQ", "HashNet", "DPSH"]) == ("ITQ", "HashNet", "DPSH")
    assert check_methods(NAMES) == NAMES
    with pytest.raises(ValueError, match=r"unknown \['DPHS'\]"):
        check_methods(["HashNet", "DPHS"])


def test_method_config_changes_one_field_per_ablation():
    config = TrainConfig(bits=16, seed=3)
    assert method_config("HashNet", config) == config
    assert method_config("HashNet-nobin", config) == config  # HashNet's model, ranked otherwise
    assert method_config("HashNet+C", config) == dataclasses.replace(config, continuous_similarity=True)
    assert method_config("HashNet-W", config) == dataclasses.replace(config, weighting="none")
    assert method_config("HashNet-sgn", config) == dataclasses.replace(config, schedule="constant")
    with pytest.raises(ValueError, match="method='ITQ' is not trained"):
        method_config("ITQ", config)


def _data():
    rng = np.random.default_rng(0)
    return SimpleNamespace(spec="synthetic", protocol="a test split", y_query=rng.integers(0, 3, 10),
                           y_database=rng.integers(0, 3, 50))


def test_evaluate_uses_the_package_convention():
    data = _data()
    rng = np.random.default_rng(1)
    q, d = random_codes(rng, 10, 8), random_codes(rng, 50, 8)
    result = evaluate(q, d, data, topk=20)
    assert result["map"] == retrieval.mean_average_precision(q, d, data.y_query, data.y_database, topk=20,
                                                             empty="zero", ties="index")
    assert result["precision_radius2"] == retrieval.precision_within_radius(q, d, data.y_query, data.y_database)
    real = evaluate(q.astype(float), d.astype(float), data, topk=20, continuous=True)
    assert set(real) == {"map"}


def test_results_markdown_quotes_the_published_numbers_of_the_preset():
    rows = [dict(method="HashNet", bits=b, map=0.5) for b in (16, 32)] + [dict(method="LSH", bits=16, map=0.1)]
    config = TrainConfig()
    md = results_markdown(rows, _data(), 1000, "imagenet100", config)
    published = PROTOCOLS["imagenet100"].published
    assert f"| HashNet (paper, AlexNet) | {published[16]:.4f} | {published[32]:.4f} |" in md
    assert "| HashNet | 0.5000 | 0.5000 |" in md and "| LSH | 0.1000 | - |" in md
    assert "mAP@1000" in md
    assert "paper" not in results_markdown(rows, _data(), None, "digits", config)


def test_the_results_table_and_the_lessons_table_are_one_table():
    """results.md's methods x bits table and the lessons' (teaching.reproduction.table_markdown)
    come from one renderer: the same rows give the same lines, methods in the registry's order."""
    rows = [dict(method="LSH", bits=16, map=0.1), dict(method="HashNet", bits=32, map=0.5),
            dict(method="HashNet", bits=16, map=0.25)]
    md = results_markdown(rows, _data(), None, "digits", TrainConfig())
    lessons = table_markdown(rows, label="method")
    assert lessons == ("| method | 16 bits | 32 bits |\n| --- | --- | --- |\n| HashNet | 0.2500 | 0.5000 |\n"
                       "| LSH | 0.1000 | - |\n")
    assert md.endswith(lessons)
