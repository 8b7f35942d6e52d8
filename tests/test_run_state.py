"""State on disk: what a run folder holds, what a checkpoint belongs to, and what
happens when two things touch one folder; every error a user can cause is one line.

Most tests drive the command line in a subprocess (``python -m hashnet_lite ...``), as a
careless user would: resume with other data, fewer steps or another config; re-run
reproduce with another seed or other data; two runs into one folder; a stale lock; a
finished run and a new run without --overwrite; an --out that is a file or read-only;
SIGKILL mid-run, then resume; each written file truncated; broken data files; degenerate
data; a few use the public Python API (``hashnet_lite.<name>``) on what such a run wrote.
Every run is short: the shipped digits with --iters <= 200, or tiny npz files made in tmp_path.

Every test here is ``slow``: each child process imports torch and trains (the module took 21
minutes on the 2-core machine under a load of 7). The same code runs in-process, and fast, in
test_cli.py, test_checkpoint.py, test_train.py and test_runs.py.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import hashnet_lite as H

ROOT = Path(__file__).resolve().parents[1]
# One thread in every child: the machine is small and shared, and both runs of a
# comparison use the same setting, so their numbers are comparable bit for bit.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "NUMBA_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TRAIN = ["train", "--bits", "8", "--no-progress", "--device", "cpu"]
LOCK = "run.lock"  # the lock file of a run folder

pytestmark = pytest.mark.slow  # child processes (see the module docstring)


# ---------------------------------------------------------------- helpers

def write_npz(path, *, n_classes=4, dim=12, per_class=(8, 10, 20), seed=0, ids=None,
              multi_label=False, zero_rows=0, drop_database_class=None, complex_features=False):
    """Gaussian clusters in the npz: layout (parts query, train, database)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 3
    arrays = {}
    for part, k in zip(("query", "train", "database"), per_class):
        y = np.repeat(np.arange(n_classes), k)
        if part == "database" and drop_database_class is not None:
            y = y[y != drop_database_class]
        x = (centres[y] + rng.normal(size=(len(y), dim))).astype(np.float32)
        if complex_features:
            x = x + 1j * x
        if multi_label:
            y = np.eye(n_classes, dtype=np.uint8)[y]
            if zero_rows == "all":
                y[:] = 0
            else:
                y[:zero_rows] = 0
        elif ids is not None:
            y = np.asarray(ids, dtype=np.int64)[y]
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, y
    np.savez(path, **arrays)
    return path


def cli(*args, timeout=300):
    """Runs ``python -m hashnet_lite args`` to the end."""
    return subprocess.run([sys.executable, "-m", "hashnet_lite", *map(str, args)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout, check=False)


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def refused(proc, *words, lines=1):
    """Exit code 2, no traceback, and (by default) exactly one line on stderr, the error,
    holding every one of ``words`` (case-insensitive). Returns that line."""
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    text = [line for line in proc.stderr.splitlines() if line.strip()]
    if lines is not None:
        assert len(text) == lines, proc.stderr
    error = text[-1]
    assert error.startswith("error: "), proc.stderr
    for word in words:
        assert str(word).lower() in error.lower(), (word, error)
    return error


def metrics(out):
    return json.loads((Path(out) / "metrics.json").read_text())


def same_run(a, b, *, history=True):
    """Two train folders hold the same result: mAP, codes and history (but the clock)."""
    ma, mb = metrics(a), metrics(b)
    assert ma["map"] == mb["map"] and ma["iters"] == mb["iters"]
    with np.load(Path(a) / "codes.npz") as ca, np.load(Path(b) / "codes.npz") as cb:
        for key in ("query_codes", "database_codes"):
            assert np.array_equal(ca[key], cb[key]), key
    if not history:
        return
    ha = json.loads((Path(a) / "history.json").read_text())["history"]
    hb = json.loads((Path(b) / "history.json").read_text())["history"]
    assert _no_seconds(ha) == _no_seconds(hb)


def _no_seconds(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def result_maps(out):
    rows = json.loads((Path(out) / "results.json").read_text())
    return {(r["method"], r["bits"]): r["map"] for r in rows}


def truncate(path, keep=0.5):
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:int(len(data) * keep)])


def dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def start_until(argv, watch: Path, timeout: float = 300, stdout=subprocess.DEVNULL):
    """Starts ``python -m hashnet_lite argv`` in a child and returns it (a Popen, stderr piped)
    once ``watch`` exists or the child has ended; kills it if neither happens in ``timeout``."""
    proc = subprocess.Popen([sys.executable, "-m", "hashnet_lite", *map(str, argv)], cwd=ROOT, env=ENV,
                            stdout=stdout, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not watch.exists() and proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{watch} did not appear in {timeout} s")
        time.sleep(0.005)
    return proc


def kill_mid_run(argv, watch: Path, delay: float, timeout: float = 300):
    """Starts the CLI, waits until ``watch`` (a checkpoint) exists, waits ``delay`` more
    seconds, then SIGKILLs the child (by its pid). Returns its exit status."""
    proc = start_until(argv, watch, timeout)
    try:
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, (
        f"the run ended (exit {proc.returncode}) before it was killed; lengthen it\n{stderr}")
    return proc.returncode


@pytest.fixture(scope="module")
def npz_pair(tmp_path_factory):
    """a.npz and b.npz: the same shapes, different values; c.npz: other feature width."""
    folder = tmp_path_factory.mktemp("npz")
    return {"a": write_npz(folder / "a.npz", seed=0), "b": write_npz(folder / "b.npz", seed=1),
            "c": write_npz(folder / "c.npz", seed=0, dim=20)}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, npz_pair):
    """One finished 20-step train run on a.npz (copy it before changing it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    ok(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 20, "--out", out))
    return out


def copy_run(src, dst):
    shutil.copytree(src, dst)
    return dst


# ---------------------------------------------------------------- resume trusts any checkpoint

def test_resume_refuses_a_checkpoint_made_on_other_data(tmp_path, npz_pair, finished_run):
    """train a.npz 20 steps, then --resume --iters 40 on b.npz (same shapes): refused, says the
    data differ and how to proceed; the finished run is untouched."""
    out = copy_run(finished_run, tmp_path / "run")
    before = (out / "metrics.json").read_bytes()
    error = refused(cli(*TRAIN, "--data", f"npz:{npz_pair['b']}", "--iters", 40, "--resume", "--out", out),
                    "data", "--overwrite")
    assert str(npz_pair["a"]) in error or "sha256" in error.lower()
    assert (out / "metrics.json").read_bytes() == before
    assert torch.load(out / "model.pt", weights_only=True)["step"] == 20


def test_resume_refuses_the_same_path_with_other_contents(tmp_path, npz_pair):
    """The spec alone is not the data: a.npz rewritten in place with other values is refused."""
    path = shutil.copy(npz_pair["a"], tmp_path / "d.npz")
    out = tmp_path / "run"
    ok(cli(*TRAIN, "--data", f"npz:{path}", "--iters", 20, "--out", out))
    shutil.copy(npz_pair["b"], path)
    refused(cli(*TRAIN, "--data", f"npz:{path}", "--iters", 40, "--resume", "--out", out), "data")


def test_resume_refuses_a_checkpoint_whose_shapes_do_not_match_the_data(tmp_path, npz_pair, finished_run):
    """12-d features in the checkpoint, 20-d in the data: one line, not a size-mismatch traceback."""
    out = copy_run(finished_run, tmp_path / "run")
    refused(cli(*TRAIN, "--data", f"npz:{npz_pair['c']}", "--iters", 40, "--resume", "--out", out), "data")


def test_resume_refuses_fewer_steps_than_the_checkpoint_holds(tmp_path, npz_pair, finished_run):
    """--resume --iters 10 beside a 20-step model.pt: refused, metrics.json keeps iters 20."""
    out = copy_run(finished_run, tmp_path / "run")
    refused(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 10, "--resume", "--out", out),
            "20", "10", "--iters")
    assert metrics(out)["iters"] == 20
    assert torch.load(out / "model.pt", weights_only=True)["step"] == 20


def test_resume_refuses_a_different_config_and_names_the_field(tmp_path, npz_pair, finished_run):
    out = copy_run(finished_run, tmp_path / "run")
    refused(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 40, "--resume", "--lr", 0.5, "--out", out),
            "lr", "0.5")


def test_resume_with_more_steps_continues_to_the_uninterrupted_result(tmp_path, npz_pair, finished_run):
    out = copy_run(finished_run, tmp_path / "run")
    ok(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 40, "--resume", "--out", out))
    ok(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 40, "--out", tmp_path / "straight"))
    # The history of the resumed run also holds the record the 20-step run wrote at its end.
    same_run(out, tmp_path / "straight", history=False)


def test_resume_without_a_checkpoint_says_it_starts_from_scratch(tmp_path, npz_pair):
    proc = ok(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 20, "--resume", "--out", tmp_path / "new"))
    assert "from scratch" in proc.stderr
    assert metrics(tmp_path / "new")["iters"] == 20


def test_run_folder_records_the_data_fingerprint(tmp_path, npz_pair, finished_run):
    """metrics.json and the checkpoint's meta: spec, split seed, sizes, a hash of the arrays."""
    fp = metrics(finished_run)["data_fingerprint"]
    assert fp["spec"] == f"npz:{npz_pair['a']}"
    assert fp["sizes"] == {"train": 40, "query": 32, "database": 80}
    assert len(fp["sha256"]) == 64 and "split_seed" in fp
    meta = torch.load(finished_run / "model.pt", weights_only=True)["meta"]
    assert meta["data_fingerprint"] == fp
    assert meta["data"] == fp["spec"]  # the old key is kept: old readers still work


# ---------------------------------------------------------------- reproduce never relabels

def reproduce_args(data, out, *extra):
    return ["reproduce", "--data", data, "--bits", 4, 8, "--methods", "HashNet", "ITQ", "LSH",
            "--iters", 20, "--no-progress", "--device", "cpu", "--out", out, *extra]


@pytest.fixture(scope="module")
def finished_reproduction(tmp_path_factory, npz_pair):
    out = tmp_path_factory.mktemp("repro") / "out"
    ok(cli(*reproduce_args(f"npz:{npz_pair['a']}", out)))
    return out


@pytest.mark.parametrize("change, word", [(["--seed", 3], "seed"), ("other data", "data"),
                                          (["--lr", 0.02], "lr")])
def test_reproduce_rerun_made_otherwise_is_refused_never_relabelled(tmp_path, npz_pair, finished_reproduction,
                                                                      change, word):
    """Rows made with seed 0 on a.npz; a re-run with --seed 3, with b.npz or with another lr
    into the same folder is refused, and results.md / results.json are unchanged."""
    out = copy_run(finished_reproduction, tmp_path / "out")
    before = {name: (out / name).read_bytes() for name in ("results.json", "results.md")}
    data = f"npz:{npz_pair['b' if change == 'other data' else 'a']}"
    extra = [] if change == "other data" else change
    refused(cli(*reproduce_args(data, out, *extra)), word, "--overwrite")
    assert {name: (out / name).read_bytes() for name in before} == before


def test_rows_made_before_a_late_field_are_explained_by_its_default(tmp_path, npz_pair, finished_reproduction):
    """A row written before a config field existed (here channels_last, stripped from the rows)
    ran at that field's default, and the refusal names the field, not just 'other settings'."""
    out = copy_run(finished_reproduction, tmp_path / "out")
    rows = json.loads((out / "results.json").read_text())
    for r in rows:
        r.get("config", {}).pop("channels_last", None)
    (out / "results.json").write_text(json.dumps(rows))
    line = refused(cli(*reproduce_args(f"npz:{npz_pair['a']}", out, "--channels-last", "on")), "--overwrite")
    assert "channels_last None (now True)" in line


def test_reproduce_overwrite_recomputes_rows_made_otherwise(tmp_path, npz_pair, finished_reproduction):
    """--overwrite with --seed 3: every row is made afresh with seed 3 (as a fresh folder would)."""
    out = copy_run(finished_reproduction, tmp_path / "out")
    ok(cli(*reproduce_args(f"npz:{npz_pair['a']}", out, "--seed", 3, "--overwrite")))
    ok(cli(*reproduce_args(f"npz:{npz_pair['a']}", tmp_path / "fresh", "--seed", 3)))
    assert result_maps(out) == result_maps(tmp_path / "fresh")
    rows = json.loads((out / "results.json").read_text())
    assert {r["seed"] for r in rows} == {3}
    assert "seed 3" in (out / "results.md").read_text()


def test_reproduce_rerun_with_the_same_arguments_reuses_every_row(tmp_path, npz_pair, finished_reproduction):
    out = copy_run(finished_reproduction, tmp_path / "out")
    before = (out / "results.json").read_text()
    ok(cli(*reproduce_args(f"npz:{npz_pair['a']}", out)))
    assert json.loads((out / "results.json").read_text()) == json.loads(before)


def test_reproduce_rows_are_keyed_by_everything_that_determines_them(finished_reproduction, npz_pair):
    rows = json.loads((finished_reproduction / "results.json").read_text())
    for r in rows:
        assert r["data_fingerprint"]["spec"] == f"npz:{npz_pair['a']}"
        assert r["seed"] == 0 and r["config"]["bits"] == r["bits"] and len(r["key"]) >= 16
    assert len({r["key"] for r in rows}) == len(rows)


# ---------------------------------------------------------------- one run per output folder

def test_second_concurrent_run_into_one_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    argv = [*TRAIN, "--data", "digits", "--iters", 400, "--out", out]
    first = start_until(argv, out / LOCK, timeout=120, stdout=subprocess.PIPE)
    try:
        assert first.poll() is None, first.communicate()
        error = refused(cli(*argv))
        assert "in use" in error and str(first.pid) in error
        _, first_err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    assert first.returncode == 0, first_err
    assert metrics(out)["iters"] == 400  # the first run's result is intact
    assert not (out / LOCK).exists()  # released at the end


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path, npz_pair):
    out = tmp_path / "run"
    out.mkdir()
    pid = dead_pid()
    (out / LOCK).write_text(json.dumps({"pid": pid, "started": "2024-01-01T00:00:00"}))
    proc = ok(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 20, "--out", out))
    assert "stale" in proc.stderr.lower() and str(pid) in proc.stderr
    assert not (out / LOCK).exists()


def test_finished_run_is_not_overwritten_without_overwrite_or_resume(tmp_path, npz_pair, finished_run):
    out = copy_run(finished_run, tmp_path / "run")
    before = (out / "metrics.json").read_bytes()
    refused(cli(*TRAIN, "--data", f"npz:{npz_pair['b']}", "--iters", 30, "--out", out), "--overwrite", "--resume")
    assert (out / "metrics.json").read_bytes() == before
    ok(cli(*TRAIN, "--data", f"npz:{npz_pair['b']}", "--iters", 30, "--out", out, "--overwrite"))
    assert metrics(out)["data"] == f"npz:{npz_pair['b']}" and metrics(out)["iters"] == 30


def test_an_unfinished_run_is_not_restarted_without_resume_or_overwrite(tmp_path, npz_pair, finished_run):
    out = copy_run(finished_run, tmp_path / "run")
    for name in ("metrics.json", "codes.npz", "history.json"):
        (out / name).unlink()  # as a run killed before its end leaves it
    refused(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 40, "--out", out), "--resume")


def test_overwrite_and_resume_together_are_refused(tmp_path, npz_pair):
    refused(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--out", tmp_path / "o", "--resume", "--overwrite"),
            "--overwrite", "--resume")


def test_out_that_is_a_file_fails_before_any_data_is_loaded(tmp_path):
    """The data spec names a missing file: had data been loaded first, the error would name it."""
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for out in (afile, afile / "sub"):
        error = refused(cli(*TRAIN, "--data", "npz:/nonexistent/x.npz", "--out", out), str(afile))
        assert "nonexistent" not in error
    assert afile.read_text() == "not a folder"


def _read_only_folder(tmp_path):
    """A folder this process cannot write to: chmod 555 (not for root), else /sys (read-only
    to root too); None where neither holds."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if not os.access(folder, os.W_OK):
        return folder
    folder.chmod(0o755)
    sys_folder = Path("/sys/hashnet_lite_test_out")
    try:
        sys_folder.mkdir()
    except OSError:
        return sys_folder
    sys_folder.rmdir()
    return None


def test_read_only_out_fails_before_any_data_is_loaded(tmp_path):
    out = _read_only_folder(tmp_path)
    if out is None:
        pytest.skip("no read-only folder can be made here")
    for target in (out, out / "sub"):
        error = refused(cli(*TRAIN, "--data", "npz:/nonexistent/x.npz", "--out", target), str(out))
        assert "nonexistent" not in error and "writ" in error.lower()


# ---------------------------------------------------------------- kill anywhere, resume exactly

@pytest.fixture(scope="module")
def digits_uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "straight"
    ok(cli(*TRAIN, "--data", "digits", "--iters", 200, "--out", out))
    return out


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4])
def test_train_killed_with_sigkill_mid_run_resumes_to_identical_metrics(tmp_path, digits_uninterrupted, delay):
    """200 steps checkpoint at least every 20: a kill at any point loses at most 20 steps."""
    out = tmp_path / "run"
    argv = [*TRAIN, "--data", "digits", "--iters", 200, "--out", out]
    kill_mid_run(argv, out / "model.pt", delay)
    assert not (out / "metrics.json").exists()
    step = torch.load(out / "model.pt", weights_only=True)["step"]
    assert 0 < step < 200
    proc = ok(cli(*argv, "--resume"))
    assert "stale" in proc.stderr.lower()  # the killed run's lock, taken over
    same_run(out, digits_uninterrupted)
    assert sorted(p.name for p in out.iterdir()) == ["codes.npz", "history.json", "metrics.json", "model.pt"]


def test_ctrl_c_is_one_line_and_resume_continues_to_identical_metrics(tmp_path, digits_uninterrupted):
    """Ctrl-C (SIGINT) prints one line, not a KeyboardInterrupt traceback."""
    out = tmp_path / "run"
    argv = [*TRAIN, "--data", "digits", "--iters", 200, "--out", out]
    proc = start_until(argv, out / "model.pt")
    try:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted; its checkpoint"), stderr
    assert "--resume continues" in lines[0] and str(out / "model.pt") in lines[0]
    assert 0 < torch.load(out / "model.pt", weights_only=True)["step"] < 200
    assert not (out / LOCK).exists()  # released on the way out, not left stale
    resumed = ok(cli(*argv, "--resume"))
    assert "stale" not in resumed.stderr.lower()
    same_run(out, digits_uninterrupted)


def test_the_digits_preset_killed_mid_run_resumes_to_identical_metrics(tmp_path):
    """The shipped digits preset (600 steps) checkpoints before its end, so a kill mid-run
    loses only the steps since the last checkpoint."""
    argv = [*TRAIN, "--data", "digits", "--bits", 16]
    ok(cli(*argv, "--out", tmp_path / "straight"))
    kill_mid_run([*argv, "--out", tmp_path / "run"], tmp_path / "run" / "model.pt", 0.5)
    assert torch.load(tmp_path / "run" / "model.pt", weights_only=True)["step"] < 600
    ok(cli(*argv, "--out", tmp_path / "run", "--resume"))
    same_run(tmp_path / "run", tmp_path / "straight")


def digits_reproduce_args(out):
    return ["reproduce", "--data", "digits", "--bits", 8, "--methods", "HashNet", "HashNet-nobin", "ITQ",
            "--iters", 200, "--no-progress", "--device", "cpu", "--out", out]


@pytest.mark.parametrize("delay", [0.0, 0.3])
def test_reproduce_killed_with_sigkill_mid_run_resumes_to_identical_rows(tmp_path, delay):
    ok(cli(*digits_reproduce_args(tmp_path / "straight")))
    out = tmp_path / "run"
    kill_mid_run(digits_reproduce_args(out), out / "checkpoints" / "HashNet-8.pt", delay)
    proc = ok(cli(*digits_reproduce_args(out)))
    assert "stale" in proc.stderr.lower()  # the killed run's lock
    assert result_maps(out) == result_maps(tmp_path / "straight")


# ---------------------------------------------------------------- truncated files

@pytest.mark.parametrize("name", ["metrics.json", "codes.npz", "history.json"])
def test_truncated_result_file_is_rewritten_by_resume(tmp_path, npz_pair, finished_run, name):
    out = copy_run(finished_run, tmp_path / "run")
    truncate(out / name)
    ok(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 20, "--resume", "--out", out))
    same_run(out, finished_run)


def test_truncated_checkpoint_is_a_clear_error_then_a_clean_restart(tmp_path, npz_pair, finished_run):
    out = copy_run(finished_run, tmp_path / "run")
    truncate(out / "model.pt")
    argv = [*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 20, "--out", out]
    refused(cli(*argv, "--resume"), "model.pt", "--overwrite")
    ok(cli(*argv, "--overwrite"))
    same_run(out, finished_run)


@pytest.mark.parametrize("content", [b"", b'{"pid": 12'])
def test_truncated_lock_file_is_taken_over_with_a_note(tmp_path, npz_pair, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_bytes(content)
    proc = ok(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 20, "--out", out))
    assert "lock" in proc.stderr.lower()


def test_load_model_on_truncated_or_foreign_files_names_the_file(tmp_path, finished_run):
    bad = tmp_path / "bad.pt"
    shutil.copy(finished_run / "model.pt", bad)
    truncate(bad)
    with pytest.raises(ValueError, match="bad.pt"):
        H.load_model(bad)
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")  # a file torch reads, not a checkpoint
    with pytest.raises(ValueError, match="tensor.pt.*not a hashnet_lite checkpoint"):
        H.load_model(tmp_path / "tensor.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="text.pt"):
        H.load_model(tmp_path / "text.pt")


@pytest.mark.parametrize("name", ["results.json", "pr_curves.json", "rows/HashNet-8.json", "rows/ITQ-4.json"])
def test_reproduce_with_a_truncated_results_file_is_rebuilt_from_rows_and_checkpoints(
        tmp_path, npz_pair, finished_reproduction, name):
    """The tables are assembled from the row files; a truncated row is made again (a trained
    row from its finished checkpoint, so the same number)."""
    out = copy_run(finished_reproduction, tmp_path / "out")
    truncate(out / name)
    proc = ok(cli(*reproduce_args(f"npz:{npz_pair['a']}", out)))
    made = {"rows/HashNet-8.json": 1, "rows/ITQ-4.json": 1}.get(name, 0)  # LSH, in ITQ's unit, is kept
    assert f"made {made}" in proc.stderr
    assert result_maps(out) == result_maps(finished_reproduction)
    assert json.loads((out / "pr_curves.json").read_text()) == \
        json.loads((finished_reproduction / "pr_curves.json").read_text())


def test_a_results_json_from_before_row_files_is_read_and_its_continuous_rows_renamed(
        tmp_path, npz_pair, finished_reproduction):
    """A folder from before row files (results.json + pr_curves.json only, the continuous ranking
    named "HashNet-nobin") is reused row by row: the same numbers, the ranking renamed HashNet-nobin."""
    out = copy_run(finished_reproduction, tmp_path / "out")
    shutil.rmtree(out / "rows")
    rows = json.loads((out / "results.json").read_text())
    ok(cli(*reproduce_args(f"npz:{npz_pair['a']}", out, "--methods", "HashNet", "HashNet-nobin", "ITQ", "LSH")))
    legacy = [dict(r, method="HashNet-nobin", key="old") for r in json.loads((out / "results.json").read_text())
              if r["method"] == "HashNet-nobin"]
    for r in legacy:
        r.pop("precision_radius2", None)
    shutil.rmtree(out / "rows")
    (out / "results.json").write_text(json.dumps(rows + legacy))
    proc = ok(cli(*reproduce_args(f"npz:{npz_pair['a']}", out, "--methods", "HashNet", "HashNet-nobin", "ITQ",
                                  "LSH")))
    assert "made 0" in proc.stderr
    after = {(r["method"], r["bits"]): r["map"] for r in json.loads((out / "results.json").read_text())}
    assert {m for m, _ in after} == {"HashNet", "HashNet-nobin", "ITQ", "LSH"}
    assert all(after[("HashNet-nobin", r["bits"])] == r["map"] for r in legacy)


def test_reproduce_with_a_truncated_checkpoint_is_refused_then_retrained(tmp_path, npz_pair, finished_reproduction):
    out = copy_run(finished_reproduction, tmp_path / "out")
    (out / "rows" / "HashNet-8.json").unlink()  # the row is made again from its checkpoint...
    truncate(out / "checkpoints" / "HashNet-8.pt")  # ...which is damaged
    args = reproduce_args(f"npz:{npz_pair['a']}", out)
    refused(cli(*args), "HashNet-8.pt")
    ok(cli(*args, "--overwrite"))
    assert result_maps(out) == result_maps(finished_reproduction)


# ---------------------------------------------------------------- broken data files

def _bad_data(tmp_path, kind, npz_pair):
    path = tmp_path / f"{kind}.npz"
    if kind == "truncated":
        shutil.copy(npz_pair["a"], path)
        truncate(path)
    elif kind == "bad_crc":
        raw = bytearray(Path(npz_pair["a"]).read_bytes())
        raw[len(raw) // 3] ^= 0xFF  # np.savez stores arrays uncompressed: a data byte
        path.write_bytes(bytes(raw))
    elif kind == "npy":
        path = tmp_path / "array.npy"
        np.save(path, np.zeros((4, 3)))
    elif kind == "text":
        path.write_text("x_train,y_train\n1,2\n")
    elif kind == "directory":
        path.mkdir()
    return path


@pytest.mark.parametrize("kind, words", [
    ("truncated", ["corrupt"]), ("bad_crc", ["corrupt"]), ("npy", [".npy"]), ("text", ["not an .npz"]),
    ("directory", ["directory"]),
])
def test_broken_data_file_is_one_line_and_exit_2(tmp_path, npz_pair, kind, words):
    path = _bad_data(tmp_path, kind, npz_pair)
    error = refused(cli(*TRAIN, "--data", f"npz:{path}", "--out", tmp_path / "o"), str(path), *words)
    assert "pickle" not in error and "does not exist" not in error
    with pytest.raises(ValueError, match=words[0].replace(".", r"\.")):
        H.load_data(f"npz:{path}")


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize("lr", ["inf", "nan", "-inf", "0", "-1", "abc"])
def test_lr_must_be_a_positive_finite_number_up_front(tmp_path, lr):
    proc = cli(*TRAIN, "--data", "npz:/nonexistent/x.npz", "--lr", lr, "--out", tmp_path / "o")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--lr" in proc.stderr and "nonexistent" not in proc.stderr
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- degenerate data

def test_huge_class_ids_are_remapped_and_recorded(tmp_path):
    """A class id of 10^9 is mapped to a column of 0..C-1 (a one-hot matrix 10^9 wide would
    take 112 GiB) and codes.npz keeps the user's ids."""
    path = write_npz(tmp_path / "ids.npz", ids=[3, 7, 10**9, 42])
    ok(cli(*TRAIN, "--data", f"npz:{path}", "--iters", 20, "--out", tmp_path / "o"))
    with np.load(tmp_path / "o" / "codes.npz") as codes:
        assert codes["query_labels"].shape[1] == 4
        assert codes["label_ids"].tolist() == [3, 7, 42, 10**9]
    data = H.load_data(f"npz:{path}")
    assert data.num_classes == 4 and data.label_ids.tolist() == [3, 7, 42, 10**9]


def test_complex_features_are_refused(tmp_path):
    path = write_npz(tmp_path / "c.npz", complex_features=True)
    refused(cli(*TRAIN, "--data", f"npz:{path}", "--out", tmp_path / "o"), "complex")


def test_all_zero_multi_hot_labels_are_refused(tmp_path):
    path = write_npz(tmp_path / "z.npz", multi_label=True, zero_rows="all")
    refused(cli(*TRAIN, "--data", f"npz:{path}", "--out", tmp_path / "o"), "no label")


def test_some_zero_label_rows_draw_a_warning_with_their_count(tmp_path):
    path = write_npz(tmp_path / "z.npz", multi_label=True, zero_rows=3)
    proc = ok(cli(*TRAIN, "--data", f"npz:{path}", "--iters", 20, "--out", tmp_path / "o"))
    assert "3 of 32" in proc.stderr and "y_query" in proc.stderr  # 3 of 32 queries have no label
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        H.load_data(f"npz:{path}")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3 and all(issubclass(w.category, UserWarning) for w in caught)
    for part, n in (("train", 40), ("query", 32), ("database", 80)):
        assert any(f"3 of {n} rows of y_{part} have no label" in m for m in messages), messages


def test_unanswerable_queries_draw_an_undefined_metric_warning(tmp_path):
    """Class 3 is absent from the database: its 8 queries can find nothing relevant."""
    path = write_npz(tmp_path / "u.npz", drop_database_class=3)
    proc = ok(cli(*TRAIN, "--data", f"npz:{path}", "--iters", 20, "--out", tmp_path / "o"))
    assert "UndefinedMetricWarning" in proc.stderr and "8 of 32" in proc.stderr
    q = np.array([[1, 1], [-1, -1]], np.int8)
    with pytest.warns(UserWarning, match=r"1 of 2 queries.*AP 0"):
        H.mean_average_precision(q, q, np.array([0, 1]), np.array([0, 0]))
    with pytest.warns(UserWarning, match=r"1 of 2 queries.*left out"):
        H.mean_average_precision(q, q, np.array([0, 1]), np.array([0, 0]), empty="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every query answerable: no warning
        H.mean_average_precision(q, q, np.array([0, 1]), np.array([0, 1]))


# ---------------------------------------------------------------- the split seed

def test_split_seed_is_recorded_apart_from_the_training_seed(tmp_path):
    ok(cli(*TRAIN, "--data", "digits", "--iters", 20, "--seed", 1, "--out", tmp_path / "a"))
    assert metrics(tmp_path / "a")["seed"] == 1 and metrics(tmp_path / "a")["split_seed"] == 1  # as before
    ok(cli(*TRAIN, "--data", "digits", "--iters", 20, "--seed", 1, "--split-seed", 0, "--out", tmp_path / "b"))
    m = metrics(tmp_path / "b")
    assert m["seed"] == 1 and m["split_seed"] == 0 and m["data_fingerprint"]["split_seed"] == 0
    # Evaluation on the data the checkpoint names reproduces the split the model was trained on.
    _, _, meta = H.load_model(tmp_path / "b" / "model.pt")
    data = H.load_data(meta["data"], seed=meta["split_seed"])
    with np.load(tmp_path / "b" / "codes.npz") as codes:
        assert np.array_equal(codes["query_labels"], data.y_query)
    assert H.load_data(meta["data"], seed=1).y_query.tolist() != data.y_query.tolist()


# ---------------------------------------------------------------- --help

def _option_blocks(help_text):
    """{option: its help text} from argparse's 'options:' section."""
    blocks, current = {}, None
    section = help_text.split("options:", 1)[1].split("\n\n")[0]
    for line in section.splitlines():
        stripped = line.strip()
        if line.startswith("  -"):
            current = stripped.split()[0].rstrip(",")
            blocks[current] = stripped
        elif current:
            blocks[current] += " " + stripped
    return blocks


@pytest.mark.parametrize("command", ["train", "reproduce", "demo"])
def test_help_describes_every_option_with_its_default_and_an_example(command):
    text = ok(cli(command, "--help")).stdout
    description = text.split("\n\n")[1]
    assert "hashnet_lite" not in description.split("\n")[0].lower()  # a sentence for users, first
    assert "example" in text.lower() and f"python -m hashnet_lite {command}" in text
    blocks = _option_blocks(text)
    assert "--out" in blocks and len(blocks) >= 4
    for option, block in blocks.items():
        if option in ("-h", "--help"):
            continue
        assert len(block.split()) > 3 and "default" in block.lower(), (option, block)
    if command == "train":
        assert {"--overwrite", "--resume", "--split-seed"} <= set(blocks)


def test_a_checkpoint_without_data_fingerprint_or_split_seed_still_loads_and_resumes(tmp_path, npz_pair, finished_run):
    """A checkpoint whose meta holds only data, input_shape and num_classes (no data fingerprint,
    no split seed) loads and resumes: keys are only ever added (checkpoint.py)."""
    out = copy_run(finished_run, tmp_path / "run")
    state = torch.load(out / "model.pt", weights_only=True)
    state["meta"] = {k: state["meta"][k] for k in ("data", "input_shape", "num_classes")}
    state["config"].pop("checkpoint_seconds", None)
    torch.save(state, out / "model.pt")
    H.load_model(out / "model.pt")
    for name in ("metrics.json", "codes.npz", "history.json"):
        (out / name).unlink()
    ok(cli(*TRAIN, "--data", f"npz:{npz_pair['a']}", "--iters", 30, "--resume", "--out", out))
    assert metrics(out)["iters"] == 30
