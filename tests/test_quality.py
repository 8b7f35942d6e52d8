"""End-to-end quality on data brought through ``npz:``: HashNet clearly ahead of ITQ and LSH,
for feature vectors (MLP preset) and for multi-label data, with the presets users get."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import write_npz
from sklearn.datasets import load_digits

from hashnet_lite.conventions import evaluate
from hashnet_lite.data import load_data
from hashnet_lite.presets import preset_for
from hashnet_lite.shallow import baseline_codes
from hashnet_lite.train import encode, fit

pytestmark = pytest.mark.slow


def digits_npz(path, *, multi_label: bool, seed: int = 1):
    """The 8x8 digits as 64-d feature vectors, split 50 train / 18 query per class.

    multi_label: two labels per item, its digit and its parity (even/odd): 12 columns,
    similar = same digit or same parity."""
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    parts = {"query": [], "train": [], "database": []}
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        parts["query"] += list(idx[:18])
        parts["train"] += list(idx[18:68])
    parts["database"] = sorted(set(range(len(y))) - set(parts["query"]))
    arrays = {}
    for name, idx in parts.items():
        labels = y[idx]
        if multi_label:
            hot = np.zeros((len(idx), 12), np.uint8)
            hot[np.arange(len(idx)), labels] = 1
            hot[np.arange(len(idx)), 10 + labels % 2] = 1
            labels = hot
        arrays[f"x_{name}"], arrays[f"y_{name}"] = x[idx].astype(np.float32), labels
    return f"npz:{write_npz(path, arrays)}"


@pytest.mark.parametrize("multi_label", [False, True])
def test_hashnet_beats_the_baselines_on_npz_features(tmp_path, multi_label):
    data = load_data(digits_npz(tmp_path / "digits.npz", multi_label=multi_label))
    assert data.input_shape == (64,)
    config, topk = preset_for(data, bits=32, iters=600)  # the "features" preset
    model, _ = fit(data, config, progress=False)
    ours = evaluate(encode(model, data.query), encode(model, data.database), data, topk)["map"]
    itq = evaluate(*baseline_codes("ITQ", data, 32, seed=0), data, topk)["map"]
    lsh = evaluate(*baseline_codes("LSH", data, 32, seed=0), data, topk)["map"]
    assert ours >= itq + 0.15 and ours >= lsh + 0.15, (ours, itq, lsh)
    if not multi_label:
        assert ours >= 0.85, ours
