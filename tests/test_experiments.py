"""hashnet_lite.experiments below the CLI: the method list, the ablation configs, evaluation
under the package's convention and the results table with the published numbers read from
presets.PROTOCOLS (the CLI contract end to end: test_cli.py)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import random_codes

from hashnet_lite import experiments, retrieval
from hashnet_lite.config import TrainConfig
from hashnet_lite.presets import PROTOCOLS


def test_check_methods():
    assert experiments.check_methods(["ITQ", "HashNet", "DPSH"]) == ("ITQ", "HashNet", "DPSH")
    assert experiments.check_methods(experiments.METHODS) == experiments.METHODS
    with pytest.raises(ValueError, match=r"unknown \['DPHS'\]"):
        experiments.check_methods(["HashNet", "DPHS"])


def test_method_config_changes_one_field_per_ablation():
    config = TrainConfig(bits=16, seed=3)
    assert experiments.method_config("HashNet", config) == config
    assert experiments.method_config("HashNet-nobin", config) == config  # HashNet's model, ranked otherwise
    assert experiments.method_config("HashNet+C", config) == dataclasses.replace(config, continuous_similarity=True)
    assert experiments.method_config("HashNet-W", config) == dataclasses.replace(config, weighting="none")
    assert experiments.method_config("HashNet-sgn", config) == dataclasses.replace(config, schedule="constant")
    with pytest.raises(ValueError, match="method='ITQ' is not trained"):
        experiments.method_config("ITQ", config)


def _data():
    rng = np.random.default_rng(0)
    return SimpleNamespace(spec="synthetic", protocol="a test split", y_query=rng.integers(0, 3, 10),
                           y_database=rng.integers(0, 3, 50))


def test_evaluate_uses_the_package_convention():
    data = _data()
    rng = np.random.default_rng(1)
    q, d = random_codes(rng, 10, 8), random_codes(rng, 50, 8)
    result = experiments.evaluate(q, d, data, topk=20)
    assert result["map"] == retrieval.mean_average_precision(q, d, data.y_query, data.y_database, topk=20,
                                                             empty="zero", ties="index")
    assert result["precision_radius2"] == retrieval.precision_within_radius(q, d, data.y_query, data.y_database)
    real = experiments.evaluate(q.astype(float), d.astype(float), data, topk=20, continuous=True)
    assert set(real) == {"map"}


def test_results_markdown_quotes_the_published_numbers_of_the_preset():
    rows = [dict(method="HashNet", bits=b, map=0.5) for b in (16, 32)] + [dict(method="LSH", bits=16, map=0.1)]
    config = TrainConfig()
    md = experiments.results_markdown(rows, _data(), 1000, "imagenet100", config)
    published = PROTOCOLS["imagenet100"].published
    assert f"| HashNet (paper, AlexNet) | {published[16]:.4f} | {published[32]:.4f} |" in md
    assert "| HashNet | 0.5000 | 0.5000 |" in md and "| LSH | 0.1000 | - |" in md
    assert "mAP@1000" in md
    assert "paper" not in experiments.results_markdown(rows, _data(), None, "digits", config)
