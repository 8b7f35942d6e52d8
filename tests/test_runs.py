"""Run folders in-process (hashnet_lite/runs.py): the folder is made and proved writable, one
run holds its lock, a stale lock is taken over, and a run in the folder is continued or
replaced only when asked. test_run_state.py drives the same through the CLI in child
processes (slow)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hashnet_lite import runs
from hashnet_lite.errors import RunFolderError


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_prepare_out_dir_makes_the_folder_and_refuses_empty_names_and_files(tmp_path):
    made = runs.prepare_out_dir(tmp_path / "a" / "b")
    assert made.is_dir() and list(made.iterdir()) == []  # the write probe is removed
    with pytest.raises(RunFolderError, match=r"--out '  ' is empty: expected a folder"):
        runs.prepare_out_dir("  ")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match=r"'.*file' is a file, not a folder; choose another --out"):
        runs.prepare_out_dir(tmp_path / "file" / "run")


def test_a_second_lock_on_a_held_folder_is_refused_naming_the_holder(tmp_path):
    with runs.RunLock(tmp_path):
        held = json.loads((tmp_path / runs.LOCK_NAME).read_text())
        assert held["pid"] == os.getpid() and "started" in held
        with pytest.raises(RunFolderError, match=rf"in use by another run \(pid {os.getpid()}, started "):
            runs.RunLock(tmp_path).acquire()  # flock: another open file description, as another process
    assert not (tmp_path / runs.LOCK_NAME).exists()  # released and removed
    with runs.RunLock(tmp_path):
        pass


@pytest.mark.parametrize("content, who", [
    (None, "pid {pid}"), ('{"pid": 12', "lock file unreadable"), ("", "lock file empty")])
def test_a_stale_lock_is_taken_over_with_a_note_and_partial_writes_removed(tmp_path, capsys, content, who):
    pid = _dead_pid()
    lock = tmp_path / runs.LOCK_NAME
    lock.write_text(json.dumps({"pid": pid, "started": "2000-01-01T00:00:00"}) if content is None else content)
    (tmp_path / "checkpoints").mkdir()
    partial = [tmp_path / ".metrics.json.ab12cd34.tmp", tmp_path / "checkpoints" / ".HashNet-8.pt.x1y2z3w4.tmp"]
    for path in partial:
        path.write_text("half")
    (tmp_path / "metrics.json").write_text("{}")  # a finished file is never touched
    with runs.RunLock(tmp_path):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err
    assert err.startswith("note: took over the stale lock") and who.format(pid=pid) in err
    assert "removed 2 partly written temporary file(s)" in err
    assert not any(p.exists() for p in partial) and (tmp_path / "metrics.json").exists()


def test_a_train_folder_is_continued_or_replaced_only_when_asked(tmp_path, capsys):
    with pytest.raises(RunFolderError, match="--resume and --overwrite contradict each other"):
        runs.check_train_folder(tmp_path, resume=True, overwrite=True)
    runs.check_train_folder(tmp_path, resume=True, overwrite=False)
    assert "--resume: no checkpoint in" in capsys.readouterr().err  # an empty folder: from scratch, said
    (tmp_path / "history.json").write_text("{}")
    with pytest.raises(RunFolderError, match=r"holds an unfinished run \(history.json\); pass --resume"):
        runs.check_train_folder(tmp_path, resume=False, overwrite=False)
    with pytest.raises(RunFolderError, match=r"--resume: .* holds history.json but no model.pt"):
        runs.check_train_folder(tmp_path, resume=True, overwrite=False)
    metrics = {"method": "HashNet", "map": 0.91234, "data": "digits", "bits": 8, "iters": 20, "topk": None}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(RunFolderError, match=r"holds a finished run \(HashNet mAP 0.9123 on digits, 8 bits, "
                                             r"20 steps\); pass --resume"):
        runs.check_train_folder(tmp_path, resume=False, overwrite=False)
    runs.check_train_folder(tmp_path, resume=True, overwrite=False)
    with pytest.raises(RunFolderError, match=r"evaluated with mAP@all; resuming with mAP@5 .* leave --topk out"):
        runs.check_same_evaluation(tmp_path, 5, resume=True)
    runs.check_same_evaluation(tmp_path, None, resume=True)
    (tmp_path / ".model.pt.ab12cd34.tmp").write_bytes(b"half")
    capsys.readouterr()
    runs.remove_train_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert "--overwrite: removed model.pt, metrics.json, history.json" in capsys.readouterr().err
