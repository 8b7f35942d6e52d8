"""hashnet_lite.io: every writer renames a finished temporary file over the target, so a
failed write leaves the old file (and no temporary file) behind."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from hashnet_lite.io import (
    atomic_torch_save,
    atomic_write,
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
