"""The CLI contract: file names, keys, the mAP it reports, resume, and errors before training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import write_npz

from hashnet_lite import cli, experiments, retrieval
from hashnet_lite.checkpoint import load_model


def run(argv):
    return cli.main([str(a) for a in argv])


@pytest.mark.parametrize("multi_label", [False, True])
def test_train_writes_the_contract_files(tmp_path, multi_label):
    npz = write_npz(tmp_path / "d.npz", multi_label=multi_label)
    out = tmp_path / "run"
    assert run(["train", "--data", f"npz:{npz}", "--bits", 8, "--iters", 40, "--out", out, "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("map", "topk", "convention", "bits", "data", "seconds"):
        assert key in metrics
    assert metrics["bits"] == 8 and metrics["topk"] is None and metrics["convention"] == "zero"
    assert metrics["data"] == f"npz:{npz}"
    codes = np.load(out / "codes.npz")
    assert codes["query_codes"].dtype == np.int8 and codes["database_codes"].dtype == np.int8
    assert set(np.unique(codes["query_codes"])) <= {-1, 1}
    assert codes["query_codes"].shape == (32, 8) and codes["database_codes"].shape == (80, 8)
    assert codes["query_labels"].ndim == 2 and codes["database_labels"].ndim == 2
    # The reported mAP is exactly what retrieval gives on the saved codes.
    recomputed = retrieval.mean_average_precision(codes["query_codes"], codes["database_codes"],
                                                  codes["query_labels"], codes["database_labels"],
                                                  topk=metrics["topk"], empty=metrics["convention"])
    assert metrics["map"] == recomputed
    assert metrics["map"] > 0.8  # well-separated clusters
    state = torch.load(out / "model.pt", weights_only=True)
    assert state["config"]["bits"] == 8 and state["step"] == 40
    model, config, meta = load_model(out / "model.pt")
    assert config.bits == 8 and meta["data"] == f"npz:{npz}"


def test_train_topk_and_resume(tmp_path):
    npz = write_npz(tmp_path / "d.npz")
    out = tmp_path / "run"
    assert run(["train", "--data", f"npz:{npz}", "--bits", 8, "--iters", 20, "--out", out, "--topk", 5,
                "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["topk"] == 5
    assert run(["train", "--data", f"npz:{npz}", "--bits", 8, "--iters", 30, "--out", out, "--topk", 5,
                "--resume", "--no-progress"]) == 0
    history = json.loads((out / "history.json").read_text())["history"]
    assert history[-1]["step"] == 30
    assert torch.load(out / "model.pt", weights_only=True)["step"] == 30


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if training starts: every error must come before it."""
    def boom(*args, **kwargs):
        raise AssertionError("training started before the bad input was reported")
    monkeypatch.setattr(experiments, "fit", boom)


@pytest.mark.parametrize("argv, message", [
    (["--data", "imagenet"], "imagenet"),
    (["--data", "npz:/nonexistent/file.npz"], "/nonexistent/file.npz"),
])
def test_bad_data_fails_before_training(tmp_path, capsys, no_training, argv, message):
    code = run(["train", "--bits", 8, "--out", tmp_path / "o", *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_npz_keys_and_mismatched_rows(tmp_path, capsys, no_training):
    npz = write_npz(tmp_path / "d.npz", drop=("y_database",))
    assert run(["train", "--data", f"npz:{npz}", "--out", tmp_path / "o"]) == 2
    assert "y_database" in capsys.readouterr().err
    bad = dict(np.load(write_npz(tmp_path / "e.npz")))
    bad["y_train"] = bad["y_train"][:-1]
    np.savez(tmp_path / "f.npz", **bad)
    assert run(["train", "--data", f"npz:{tmp_path / 'f.npz'}", "--out", tmp_path / "o"]) == 2
    assert "train" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--bits", "0"], ["--bits", "x"], ["--backbone", "lenet"], ["--topk", "0"],
                                  ["--iters", "-3"], ["--compile", "fastest"], ["--convs", "7"]])
def test_bad_arguments_are_refused_by_the_parser(tmp_path, capsys, no_training, argv):
    with pytest.raises(SystemExit) as err:
        run(["train", "--out", tmp_path / "o", *argv])
    assert err.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_erasing_feature_vectors_is_refused_before_training(tmp_path, capsys, no_training):
    npz = write_npz(tmp_path / "d.npz")
    assert run(["train", "--data", f"npz:{npz}", "--erase", "0.5", "--out", tmp_path / "o"]) == 2
    assert "erase=0.5 blanks rectangles of images" in capsys.readouterr().err


def test_convs_for_another_backbone_is_refused_before_training(tmp_path, capsys, no_training):
    npz = write_npz(tmp_path / "d.npz")
    assert run(["train", "--data", f"npz:{npz}", "--convs", "4", "--out", tmp_path / "o"]) == 2
    assert "--convs=4 sets the layers of the cnn backbone, but this run trains 'mlp'" in capsys.readouterr().err


def test_image_backbone_on_feature_vectors_is_refused(tmp_path, capsys, no_training):
    npz = write_npz(tmp_path / "d.npz")
    assert run(["train", "--data", f"npz:{npz}", "--backbone", "cnn", "--out", tmp_path / "o"]) == 2
    assert "mlp" in capsys.readouterr().err


def test_reproduce_writes_every_row_and_resumes(tmp_path, monkeypatch):
    npz = write_npz(tmp_path / "d.npz", multi_label=True)
    out = tmp_path / "repro"
    argv = ["reproduce", "--data", f"npz:{npz}", "--bits", 4, 8, "--iters", 20, "--out", out, "--no-progress"]
    assert run(argv) == 0
    rows = json.loads((out / "results.json").read_text())
    assert {(r["method"], r["bits"]) for r in rows} == {(m, b) for m in experiments.DEFAULT_METHODS for b in (4, 8)}
    for r in rows:
        assert 0.0 <= r["map"] <= 1.0 and r["topk"] is None
    table = (out / "results.md").read_text()
    assert "| HashNet-sgn |" in table and "4 bits" in table and "8 bits" in table
    assert (out / "map_vs_bits.png").stat().st_size > 0 and (out / "precision_recall.png").stat().st_size > 0
    # A second run keeps the finished rows and trains nothing.
    monkeypatch.setattr(experiments, "fit", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    assert run(argv) == 0
    assert json.loads((out / "results.json").read_text()) == rows


def test_reproduce_rejects_unknown_methods(tmp_path, capsys, no_training):
    assert run(["reproduce", "--methods", "HashNet", "DPHS", "--out", tmp_path / "o"]) == 2
    assert "DPSH" in capsys.readouterr().err


def test_demo_runs_and_beats_the_baselines(tmp_path, capsys):
    assert run(["demo", "--out", tmp_path, "--iters", 150, "--no-progress"]) == 0
    scores = json.loads((tmp_path / "metrics.json").read_text())["map"]
    assert scores["HashNet"] > scores["ITQ"] > scores["LSH"]
    assert (tmp_path / "demo.png").stat().st_size > 0
    assert "HashNet" in capsys.readouterr().out


@pytest.mark.parametrize("argv, fields", [
    ([], dict(channels_last=None, compile=False, amp=True, precision="bf16", augment=True, erase=0.0, convs=3)),
    (["--channels-last", "on", "--compile", "--precision", "fp16", "--augment", "crop", "--erase", "0.25",
      "--convs", "5"],
     dict(channels_last=True, compile=True, amp=True, precision="fp16", augment="crop", erase=0.25, convs=5)),
    (["--channels-last", "off", "--precision", "fp32", "--augment", "none", "--compile", "reduce-overhead"],
     dict(channels_last=False, amp=False, augment=False, compile="reduce-overhead")),
])
def test_loop_options_reach_the_config(tmp_path, monkeypatch, argv, fields):
    seen = []

    class Stop(Exception):
        """Not a user error: main() lets it through."""

    def record(data, config, **kw):
        seen.append(config)
        raise Stop  # stop before any training

    monkeypatch.setattr(experiments, "fit", record)
    with pytest.raises(Stop):
        run(["train", "--data", "digits", "--bits", 8, "--out", tmp_path / "o", *argv])
    assert {k: getattr(seen[0], k) for k in fields} == fields
