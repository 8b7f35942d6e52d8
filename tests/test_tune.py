"""The search (hashnet_lite/tune.py) and the seeds summary (hashnet_lite/summary.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hashnet_lite.methods import method_config
from hashnet_lite import tune as T
from hashnet_lite.config import TrainConfig
from hashnet_lite.data import load_data
from hashnet_lite.summary import close_calls, seed_markdown, seed_summary


def test_every_method_gets_the_same_number_of_distinct_trials_hashnets_settings_first():
    for method in T.TUNABLE:
        trials = T.trials(method, 6, seed=0)
        assert len(trials) == 6 and len({tuple(t.values()) for t in trials}) == 6
        assert trials[0] == dict(lr_scale=1.0, hash_lr_mult=10.0, trade_off=T.TRADE_OFFS[method][1][0])
        assert T.trials(method, 6, seed=0) == trials  # seeded
        assert T.trials(method, 3, seed=0) == trials[:3]  # a shorter search is a prefix: the budgets compare
    mult, trade = T.AUTHORS["DSH"]
    assert T.trials("DSH", 2)[1] == dict(lr_scale=1.0, hash_lr_mult=mult, trade_off=trade)


def test_a_setting_changes_the_lr_the_multiplier_and_the_methods_own_trade_off():
    config = TrainConfig(bits=32, lr=0.02)
    dsh = T.apply("DSH", dict(lr_scale=0.3, hash_lr_mult=1.0, trade_off=0.1), method_config("DSH", config))
    assert (dsh.lr, dsh.hash_lr_mult, dsh.quantization_weight) == (pytest.approx(0.006), 1.0, 0.1)
    hashnet = T.apply("HashNet", dict(lr_scale=1.0, hash_lr_mult=10.0, trade_off=0.5), config)
    assert hashnet.alpha == pytest.approx(0.5 * 10 / 32) and hashnet.quantization_weight is None


def test_the_validation_split_is_carved_from_the_training_set_only():
    data = load_data("digits")
    val = T.validation_split(data, seed=0)
    train_rows = set(data.train.index.tolist())
    q, t = set(val.query.index.tolist()), set(val.train.index.tolist())
    assert q | t == train_rows and not q & t  # the protocol's queries and database are never seen
    assert len(q) == round(0.2 * len(train_rows)) and val.database.index.tolist() == val.train.index.tolist()
    assert np.array_equal(val.y_query, data.y_train[np.isin(data.train.index, sorted(q))])


def test_tune_through_the_cli_writes_every_trial_and_the_choice(tmp_path):
    from hashnet_lite.cli import main

    out, choices = tmp_path / "tune", tmp_path / "tuned.json"
    argv = ["tune", "--data", "digits", "--bits", "8", "--methods", "HashNet", "DSH", "--trials", "2", "--iters",
            "20", "--device", "cpu", "--no-progress", "--out", str(out), "--save-choices", str(choices)]
    assert main(argv) == 0
    summary = json.loads((out / "tune.json").read_text())
    assert [(r["method"], r["trial"]) for r in summary["trials"]] == [("HashNet", 0), ("HashNet", 1), ("DSH", 0),
                                                                      ("DSH", 1)]
    for method, chosen in summary["chosen"].items():
        scored = [r["map"] for r in summary["trials"] if r["method"] == method and r["map"] is not None]
        assert chosen["map"] == max(scored)
    saved = json.loads(choices.read_text())
    assert saved["preset"] == "digits" and saved["chosen"] == summary["chosen"]
    assert main(argv) == 0  # a rerun trains nothing: every trial is a row already written
    assert json.loads((out / "tune.json").read_text())["trials"] == summary["trials"]


def _folder(tmp_path, seed, maps):
    folder = tmp_path / f"s{seed}"
    folder.mkdir()
    rows = [{"method": m, "bits": 32, "seed": seed, "map": v} for m, v in maps.items()]
    (folder / "results.json").write_text(json.dumps(rows))
    return folder


def test_the_seed_summary_is_the_mean_and_sample_sd_and_names_leads_within_the_spread(tmp_path):
    folders = [_folder(tmp_path, s, {"HashNet": h, "CSQ": c, "DSH": d})
               for s, (h, c, d) in enumerate([(0.86, 0.82, 0.855), (0.85, 0.82, 0.845), (0.87, 0.83, 0.865)])]
    summary = seed_summary(folders, 32)
    assert summary["HashNet"]["mean"] == pytest.approx(0.86) and summary["HashNet"]["sd"] == pytest.approx(0.01)
    assert close_calls(summary) == ["DSH"]  # 0.855 is within HashNet's sd of 0.01; CSQ is not
    text = seed_markdown(summary, 32, "t")
    assert "| HashNet | 0.8600 | 0.8500 | 0.8700 | 0.8600 | 0.0100 |" in text and "spread of HashNet" in text
