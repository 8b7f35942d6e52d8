"""The CLI contract: file names, keys, the mAP it reports, resume, and errors before training."""
from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pytest
import torch
from helpers import write_npz

from hashnet_lite import cli, experiments, retrieval, train_run
from hashnet_lite.checkpoint import load_model
from hashnet_lite.config import TrainConfig


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
    monkeypatch.setattr(train_run, "fit", boom)
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
    ([], dict(channels_last=None, compile=False, precision="bf16", augment=True, erase=0.0, convs=3)),
    (["--channels-last", "on", "--compile", "--precision", "fp16", "--augment", "crop", "--erase", "0.25",
      "--convs", "5"],
     dict(channels_last=True, compile=True, precision="fp16", augment="crop", erase=0.25, convs=5)),
    (["--channels-last", "off", "--precision", "fp32", "--augment", "none", "--compile", "reduce-overhead"],
     dict(channels_last=False, precision="fp32", augment=False, compile="reduce-overhead")),
])
def test_loop_options_reach_the_config(tmp_path, monkeypatch, argv, fields):
    seen = []

    class Stop(Exception):
        """Not a user error: main() lets it through."""

    def record(data, config, **kw):
        seen.append(config)
        raise Stop  # stop before any training

    monkeypatch.setattr(train_run, "fit", record)
    with pytest.raises(Stop):
        run(["train", "--data", "digits", "--bits", 8, "--out", tmp_path / "o", *argv])
    assert {k: getattr(seen[0], k) for k in fields} == fields


# ---------------------------------------------------------------- one contract for every run folder

TRAIN_TINY = ["--bits", 8, "--iters", 20, "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def finished_train(tmp_path_factory):
    """A finished 20-step train run on a tiny npz (copy it before changing it)."""
    folder = tmp_path_factory.mktemp("train")
    npz = write_npz(folder / "d.npz")
    out = folder / "run"
    assert run(["train", "--data", f"npz:{npz}", *TRAIN_TINY, "--out", out]) == 0
    return npz, out


def one_error_line(capsys) -> str:
    """The only line on stderr, an error."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_demo_refuses_a_finished_train_folder(tmp_path, capsys, monkeypatch, finished_train):
    _, finished = finished_train
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = (out / "metrics.json").read_bytes()
    monkeypatch.setattr("hashnet_lite.train.fit", lambda *a, **k: pytest.fail("demo trained"))
    assert run(["demo", "--out", out, "--no-progress"]) == 2
    error = one_error_line(capsys)
    assert "holds a train run (model.pt, codes.npz, history.json)" in error and "choose another --out" in error
    assert (out / "metrics.json").read_bytes() == before and not (out / "demo.png").exists()


def test_demo_replacing_a_previous_demo_says_so(tmp_path, capsys, monkeypatch):
    (tmp_path / "demo.png").write_bytes(b"png")
    (tmp_path / "metrics.json").write_text(json.dumps({"map": {"HashNet": 0.93}, "bits": 32}))
    monkeypatch.setattr(cli, "_demo", lambda args, out: 0)
    assert run(["demo", "--out", tmp_path]) == 0
    note = capsys.readouterr().err
    assert "note: replacing the demo in" in note and "HashNet mAP 0.9300 at 32 bits" in note
    (tmp_path / "demo.png").unlink()  # a metrics.json that no demo wrote is not replaced
    assert run(["demo", "--out", tmp_path]) == 2
    assert "metrics.json that no demo wrote" in one_error_line(capsys)


def test_reproduce_and_train_refuse_each_others_folders(tmp_path, capsys, no_training, finished_train):
    npz, finished = finished_train
    out = tmp_path / "train-run"
    shutil.copytree(finished, out)
    assert run(["reproduce", "--data", f"npz:{npz}", "--bits", 8, "--out", out, "--overwrite"]) == 2
    assert "holds a train run" in one_error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["codes.npz", "history.json", "metrics.json", "model.pt"]
    repro = tmp_path / "repro"
    (repro / "checkpoints").mkdir(parents=True)
    (repro / "results.json").write_text("[]")
    for extra in ([], ["--overwrite"], ["--resume"]):
        assert run(["train", "--data", f"npz:{npz}", *TRAIN_TINY, "--out", repro, *extra]) == 2
        assert "holds a reproduce run (checkpoints, results.json)" in one_error_line(capsys)
    assert sorted(p.name for p in repro.iterdir()) == ["checkpoints", "results.json"]


def test_resume_with_another_topk_does_not_rewrite_metrics(tmp_path, capsys, no_training, finished_train):
    npz, finished = finished_train
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = (out / "metrics.json").read_bytes()
    assert run(["train", "--data", f"npz:{npz}", *TRAIN_TINY, "--out", out, "--resume", "--topk", 50]) == 2
    error = one_error_line(capsys)
    assert "evaluated with mAP@all" in error and "would replace it" in error and "leave --topk out" in error
    assert (out / "metrics.json").read_bytes() == before


def test_train_results_name_the_method(tmp_path, capsys):
    npz = write_npz(tmp_path / "d.npz")
    out = tmp_path / "dhn"
    assert run(["train", "--data", f"npz:{npz}", *TRAIN_TINY, "--method", "DHN", "--out", out]) == 0
    assert json.loads((out / "metrics.json").read_text())["method"] == "DHN"
    history = json.loads((out / "history.json").read_text())
    assert history["method"] == "DHN" and history["metrics"]["method"] == "DHN"
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(f"DHN on npz:{npz}, 8 bits: mAP@all = ")


def test_codes_npz_keeps_uint64_label_ids_exactly(tmp_path):
    top = np.array([7, 2**63, 2**64 - 1, 2**63 + 5], dtype=np.uint64)
    npz = write_npz(tmp_path / "d.npz")
    arrays = dict(np.load(npz))
    for part in ("train", "query", "database"):
        arrays[f"y_{part}"] = top[arrays[f"y_{part}"]]
    np.savez(npz, **arrays)
    assert run(["train", "--data", f"npz:{npz}", *TRAIN_TINY, "--out", tmp_path / "run"]) == 0
    with np.load(tmp_path / "run" / "codes.npz") as codes:
        assert codes["label_ids"].dtype == np.uint64
        assert codes["label_ids"].tolist() == [7, 2**63, 2**63 + 5, 2**64 - 1]


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize("argv, words", [
    (["--bits", "x"], "--bits"), (["--backbone", "lenet"], "--backbone"),
    (["--out", "o", "--frobnicate"], "unrecognized arguments: --frobnicate"), ([], "--out"),  # --out missing
])
def test_argparse_error_is_one_line(capsys, argv, words):
    with pytest.raises(SystemExit) as err:
        cli.main(["train", *argv])
    assert err.value.code == 2
    error = one_error_line(capsys)
    assert words in error and error.startswith("error: python -m hashnet_lite") and error.endswith(" --help)")


def test_bits_have_an_upper_bound(tmp_path, capsys, no_training):
    for command in (["train"], ["reproduce"], ["demo"]):
        with pytest.raises(SystemExit):
            cli.main([*command, "--bits", "100000000", "--out", str(tmp_path / "o")])
        assert "--bits=100000000 is invalid: expected an integer from 1 to 4096" in one_error_line(capsys)
    with pytest.raises(ValueError, match="bits=100000000 is invalid: expected an integer from 1 to 4096"):
        TrainConfig(bits=100_000_000)


def test_huge_seed_is_named_before_any_data_is_loaded(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("hashnet_lite.data.load_data", lambda *a, **k: pytest.fail("data loaded"))
    for option in ("--seed", "--split-seed"):
        with pytest.raises(SystemExit):
            cli.main(["train", option, "99999999999999999999", "--out", str(tmp_path / "o")])
        assert f"{option}=99999999999999999999 is invalid: expected an integer from 0 to" in one_error_line(capsys)
    with pytest.raises(ValueError, match=r"seed=18446744073709551616 is invalid"):
        TrainConfig(seed=2**64)


@pytest.mark.parametrize("command", ["train", "reproduce", "demo"])
def test_device_takes_cuda_n_and_names_a_gpu_that_does_not_exist(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setattr("hashnet_lite.data.load_data", lambda *a, **k: pytest.fail("data loaded"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with two GPUs
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    parser = cli.build_parser()
    assert parser.parse_args([command, "--device", "cuda:1", "--out", "o"]).device == "cuda:1"
    assert parser.parse_args([command, "--device", "cuda", "--out", "o"]).device == "cuda"
    with pytest.raises(SystemExit) as err:
        cli.main([command, "--device", "cuda:2", "--out", str(tmp_path / "o")])
    assert err.value.code == 2
    assert "--device='cuda:2': there is no GPU 2; this machine has 2 (cuda:0 to cuda:1)" in one_error_line(capsys)
    for bad in ("cuda:x", "gpu", "cuda:-1"):
        with pytest.raises(SystemExit):
            cli.main([command, "--device", bad, "--out", str(tmp_path / "o")])
        assert f"--device={bad!r} is invalid: expected 'auto', 'cpu', 'cuda' or 'cuda:N'" in one_error_line(capsys)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        cli.main([command, "--device", "cuda:0", "--out", str(tmp_path / "o")])
    assert "--device='cuda:0' was asked for but no CUDA GPU is available" in one_error_line(capsys)
    assert not (tmp_path / "o").exists()  # refused before the output folder is made


def test_empty_out_is_refused(tmp_path, capsys, monkeypatch, no_training):
    monkeypatch.chdir(tmp_path)
    assert run(["train", "--data", "digits", "--out", ""]) == 2
    assert "--out '' is empty: expected a folder" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder


def test_python_m_hashnet_lite_is_the_cli(monkeypatch, capsys):
    import runpy

    monkeypatch.setattr("sys.argv", ["hashnet_lite", "train", "--bits", "0"])
    with pytest.raises(SystemExit) as err:
        runpy.run_module("hashnet_lite", run_name="__main__")
    assert err.value.code == 2 and "--bits=0 is invalid" in one_error_line(capsys)


# ---------------------------------------------------------------- outputs

def test_help_defaults_come_from_the_presets(monkeypatch):
    """Every preset value --help quotes is read from presets.PRESETS, so the help cannot
    disagree with what a run uses."""
    from hashnet_lite.presets import PRESETS

    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping inside "fashion-mosaic"

    text = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    for option, field in (("--iters", "iters"), ("--batch-size", "batch_size"), ("--lr", "lr"),
                          ("--erase", "erase"), ("--convs", "convs")):
        block = text.split(f" {option} ", 1)[1].split(" --", 1)[0]
        groups = dict(g.split(" for ", 1) for g in block.split("(default: the preset's: ", 1)[1].rstrip(")").split("; "))
        for name, preset in PRESETS.items():
            label = cli.PRESET_LABELS.get(name, name)
            value = str(preset.get(field, getattr(TrainConfig, field)))
            assert label in groups[value].split(", "), (option, name, value, groups)
    assert "3000 for npz: and list: images" in text and "5000 for fashion-mnist" in text


# ---------------------------------------------------------------- a full disk

def _digits(out):
    return ["train", "--data", "digits", "--bits", 8, "--iters", 20, "--no-progress", "--device", "cpu", "--out", out]


def test_full_disk_is_one_line_and_the_last_checkpoint_resumes(tmp_path, capsys, small_disk, monkeypatch):
    """A digits model.pt is 1.3 MB: a 1 MiB disk takes no checkpoint, a 2.2 MiB one the first
    only (the second is written beside it before the rename)."""
    real_save = torch.save
    for mib, saves_that_fit, survived in ((1, 0, "no model.pt was written"),
                                          (2.2, 1, "the previous model.pt is kept as it was")):
        folder = small_disk(mib)
        if folder is None:  # no tmpfs here: torch.save fails as it does on a full disk, after `saves_that_fit`
            folder = tmp_path / f"disk{mib}"
            calls = []

            def save(obj, f, *args, _fit=saves_that_fit, _calls=calls, **kwargs):
                _calls.append(1)
                if len(_calls) > _fit:
                    try:
                        raise OSError(errno.ENOSPC, "No space left on device")
                    except OSError:
                        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos") from None
                return real_save(obj, f, *args, **kwargs)

            monkeypatch.setattr(torch, "save", save)
        out = folder / "run"
        assert run(_digits(out)) == 2
        error = one_error_line(capsys)
        assert "no space left on device" in error and repr(str(out / "model.pt")) in error and survived in error
        assert ("--resume continues" in error) == bool(saves_that_fit)
        monkeypatch.setattr(torch, "save", real_save)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("run.lock"))
    assert torch.load(copy / "model.pt", weights_only=True)["step"] == 2
    assert run([*_digits(copy), "--resume"]) == 0
    assert json.loads((copy / "metrics.json").read_text())["iters"] == 20


def test_out_of_memory_is_one_line_saying_what_survived(tmp_path, capsys, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 204. GiB for an array with shape (100000000, 512)")

    monkeypatch.setattr(train_run, "fit", no_memory)
    npz = write_npz(tmp_path / "d.npz")
    assert run(["train", "--data", f"npz:{npz}", *TRAIN_TINY, "--out", tmp_path / "run"]) == 2
    error = one_error_line(capsys)
    assert "out of memory (MemoryError: Unable to allocate 204. GiB" in error and "--batch-size" in error
    assert "no checkpoint was written yet" in error
