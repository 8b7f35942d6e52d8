"""hashnet_lite.io: every writer renames a finished temporary file over the target, so a
failed write leaves the old file (and no temporary file) behind."""
from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import torch

from hashnet_lite.errors import DiskFullError
from hashnet_lite.io import (
    atomic_torch_save,
    atomic_write,
    path_problem,
    save_npz_atomic,
    write_json_atomic,
    write_text_atomic,
)


def test_writers_round_trip_and_create_folders(tmp_path):
    assert write_text_atomic("hello\n", tmp_path / "a" / "t.txt").read_text() == "hello\n"
    write_json_atomic({"map": 0.5, "bits": [16, 32]}, tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text()) == {"map": 0.5, "bits": [16, 32]}
    path = save_npz_atomic(tmp_path / "codes.npz", codes=np.ones((2, 3), np.int8))
    assert path == tmp_path / "codes.npz"  # not codes.npz.npz: the temporary name keeps the suffix
    with np.load(path) as f:
        assert f["codes"].dtype == np.int8 and f["codes"].shape == (2, 3)
    atomic_torch_save({"w": torch.arange(3)}, tmp_path / "ck.pt")
    assert torch.equal(torch.load(tmp_path / "ck.pt", weights_only=True)["w"], torch.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "ck.pt", "codes.npz", "m.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = write_text_atomic("old", tmp_path / "f.txt")

    def half_then_fail(tmp):
        with open(tmp, "w") as f:
            f.write("half of the new")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, half_then_fail)
    with pytest.raises(TypeError):
        write_json_atomic({"x": object()}, path)  # not JSON: fails before the file is touched
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary file left


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_text_atomic("x", tmp_path / "p.txt")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def disk_full_save(real_save, limit):
    """A torch.save that fails as torch's does on a full disk, for objects of more than
    ``limit`` elements: a RuntimeError ("unexpected pos") raised while an OSError ENOSPC is
    handled, so the cause hides in the chain."""
    def save(obj, f, *args, **kwargs):
        if sum(t.numel() for t in obj.values()) <= limit:
            return real_save(obj, f, *args, **kwargs)
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None
    return save


def test_full_disk_is_one_error_naming_the_file_and_what_survived(tmp_path, small_disk, monkeypatch):
    folder = small_disk(1)
    if folder is None:  # no tmpfs here: torch.save fails as it does on a full disk
        folder = tmp_path
        monkeypatch.setattr(torch, "save", disk_full_save(torch.save, 100_000))
    big = {"w": torch.zeros(600_000)}  # 2.4 MB: more than the 1 MiB disk holds
    with pytest.raises(DiskFullError) as info:
        atomic_torch_save(big, folder / "ck.pt")
    message = str(info.value)
    assert "no space left on device" in message and repr(str(folder / "ck.pt")) in message
    assert "no ck.pt was written" in message and "\n" not in message
    small = {"w": torch.arange(10)}
    atomic_torch_save(small, folder / "ck.pt")
    with pytest.raises(DiskFullError, match="the previous ck.pt is kept as it was"):
        atomic_torch_save(big, folder / "ck.pt")
    assert torch.equal(torch.load(folder / "ck.pt", weights_only=True)["w"], small["w"])
    assert [p.name for p in folder.iterdir()] == ["ck.pt"]  # no temporary file left
    assert isinstance(info.value, OSError)  # callers that catch OSError still do


def test_path_problem_says_what_a_path_is_instead_of_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    os.mkfifo(tmp_path / "fifo")
    assert path_problem(tmp_path / "f") is None
    assert path_problem(tmp_path) == "is a directory"
    assert path_problem(tmp_path / "absent") == "does not exist"
    assert path_problem(tmp_path / "dangling") == "is a broken symbolic link"
    assert "symbolic link loop" in path_problem(tmp_path / "loop")
    assert "named pipe" in path_problem(tmp_path / "fifo")
    assert "device file" in path_problem("/dev/zero")
