"""Atomic file writes: nothing a user saved is lost or half-written.

Every file the package writes (checkpoints, metrics, codes, results, figures) goes through
one of the writers here: it is written to a temporary file in the same folder and renamed
over the target, so a crash leaves
either the old file or the new one, never a torn one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: str | Path, write: Callable[[str], None], *, suffix: str = ".tmp") -> Path:
    """Call ``write(tmp_path)``, then rename ``tmp_path`` over ``path`` (same folder).

    ``suffix`` keeps the temporary name's extension where the writer looks at it
    (``np.savez`` appends ``.npz``, matplotlib picks the format from it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(text: str, path: str | Path) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json_atomic(obj, path: str | Path) -> Path:
    return write_text_atomic(json.dumps(obj, indent=2) + "\n", path)


def save_npz_atomic(path: str | Path, **arrays) -> Path:
    import numpy as np

    return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays), suffix=".npz")


def atomic_torch_save(obj, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, then rename over ``path``."""
    import torch  # only the checkpoint writer needs it

    def write(tmp):
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it the checkpoint

    return atomic_write(path, write)
