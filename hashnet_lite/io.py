"""Atomic file writes: nothing a user saved is lost or half-written.

Every file the package writes (checkpoints, metrics, codes, results, figures) goes through
one of the writers here: it is written to a temporary file in the same folder and renamed
over the target, so a crash leaves either the old file or the new one, never a torn one.
A write that fails because the disk is full raises ``errors.DiskFullError`` naming the file
and what survived (the cause otherwise hides in an exception chain: torch.save reports it as
"unexpected pos" in inline_container.cc).

``path_problem`` says, for a path that is not a regular file, what it is instead (a
directory, a FIFO, a device, a symbolic-link loop, nothing), so that readers can refuse it
in words the user recognises rather than as "does not exist".
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable

from .errors import DiskFullError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left; disk quota exceeded


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
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        full = disk_full_cause(e)
        if full is not None:
            raise DiskFullError(disk_full_message(path, full)) from e
        raise
    return path


def disk_full_cause(error: BaseException) -> OSError | None:
    """The OSError "no space left on device" (or "quota exceeded") in ``error``'s chain, if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return error
        error = error.__cause__ or error.__context__
    return None


def disk_full_message(path: str | Path, error: OSError) -> str:
    """One line: the file that could not be written, the free space left, and what survived."""
    path = Path(path)
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free"
    except OSError:
        free = "free space unknown"
    kept = (f"the previous {path.name} is kept as it was" if path.is_file()
            else f"no {path.name} was written")
    return (f"no space left on device ({error.strerror}) while writing {str(path)!r} ({free}); {kept}; "
            f"free some space or choose a folder on another disk")


def path_problem(path: str | Path) -> str | None:
    """None if ``path`` is a regular file (after following links); otherwise what it is, in
    words: "does not exist", "is a directory", "is a named pipe (FIFO)", "is a device file",
    "is a symbolic link loop", ...; the reader's own error adds what it expected."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symbolic link loop (a link that points back to itself)"
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return "is a broken symbolic link" if os.path.islink(path) else "does not exist"
        return f"cannot be read ({e.strerror})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device file, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


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
