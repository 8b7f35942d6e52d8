"""Run folders: one run per output folder, checked before any data is loaded.

What the ``train`` and ``reproduce`` commands do with ``--out DIR``, in order:

1. ``prepare_out_dir``: DIR is created and proved writable (a probe file is written and
   removed), so a typo or a read-only disk fails in a second, not after hours of training.
2. ``RunLock``: DIR/run.lock holds the pid, host, start time and command of the run using
   the folder, under an exclusive ``flock``. A second run into DIR is refused while the
   first holds it. The kernel drops the flock when a process dies however it dies
   (SIGKILL included), so a lock file that nobody holds is stale by construction: the
   next run takes it over and says so. (Checking the pid alone would be fooled by pid
   reuse; the flock cannot be.)
3. ``check_train_folder``: a folder holding a finished or unfinished train run is only
   continued with ``--resume`` or replaced with ``--overwrite``, never silently.

Only rank 0 of a torchrun job locks (the other ranks write nothing).
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import socket
import sys
import tempfile
from pathlib import Path

from .errors import RunFolderError

LOCK_NAME = "run.lock"
TRAIN_FILES = ("model.pt", "metrics.json", "codes.npz", "history.json")


def note(message: str) -> None:
    """A line for the user on stderr that is neither an error nor a warning."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def prepare_out_dir(out) -> Path:
    """Creates ``out`` (and its parents) and checks that files can be written in it;
    ``RunFolderError`` naming the folder otherwise."""
    out = Path(out).expanduser()
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            raise RunFolderError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a folder; "
                                 f"choose another --out")
        if parent.exists():
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunFolderError(f"--out {str(out)!r} cannot be created ({e.strerror or e}); "
                             f"choose a folder on a writable disk") from e
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise RunFolderError(f"--out {str(out)!r} is not writable ({e.strerror or e}); "
                             f"choose a folder on a writable disk") from e
    return out


def _is_main_rank() -> bool:
    return os.environ.get("RANK", "0") == "0"


class RunLock:
    """``with RunLock(folder):`` holds ``folder/run.lock`` for the run (see the module
    docstring). Refuses with ``RunFolderError`` when another live process holds it."""

    def __init__(self, folder):
        self.path = Path(folder) / LOCK_NAME
        self.fd = None

    def __enter__(self):
        if _is_main_rank():
            self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        import fcntl  # POSIX; the package targets Linux and macOS

        while True:
            try:
                fd, existed = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), False
            except FileExistsError:
                try:
                    fd, existed = os.open(self.path, os.O_RDWR), True
                except FileNotFoundError:  # removed in between: try again
                    continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise RunFolderError(
                    f"{str(self.path.parent)!r} is in use by another run ({_who(holder)}); wait for it to "
                    f"finish or choose another --out") from None
            # The file may have been removed (a run ending) between open and flock: retry on the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = _read(fd)
        if existed:  # a lock file that nobody holds: its run died without removing it
            removed = _remove_partial_writes(self.path.parent)
            note(f"took over the stale lock {str(self.path)!r} of a run that is no longer running "
                 f"({_who(previous)}); it was killed or crashed, and its checkpoint (if any) is kept"
                 + (f"; removed {removed} partly written temporary file(s)" if removed else ""))
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now().isoformat(timespec="seconds"),
                "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # still under the flock: a waiting opener sees the inode change
        os.close(self.fd)
        self.fd = None


# io.atomic_write's temporary files: "." + target name + "." + mkstemp's 8 characters + suffix.
_PARTIAL = re.compile(r"^\..+\.[a-z0-9_]{8}\.(tmp|npz|png)$")


def _remove_partial_writes(folder: Path) -> int:
    """Temporary files a killed run left mid-write (the targets themselves are intact:
    the rename never happened). Only called with the folder's lock held."""
    removed = 0
    for sub in (folder, folder / "checkpoints"):
        for path in sub.glob(".*") if sub.is_dir() else ():
            if path.is_file() and _PARTIAL.match(path.name):
                path.unlink()
                removed += 1
    return removed


def _read(fd) -> dict | str | None:
    """The lock's content: a dict, the raw text if it is not JSON (e.g. truncated), None if empty."""
    raw = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    if not raw:
        return None
    try:
        info = json.loads(raw)
    except ValueError:
        return raw
    return info if isinstance(info, dict) else raw


def _who(info) -> str:
    if isinstance(info, dict):
        parts = [f"pid {info.get('pid')}"]
        if info.get("host") and info.get("host") != socket.gethostname():
            parts.append(f"on {info['host']}")
        if info.get("started"):
            parts.append(f"started {info['started']}")
        return ", ".join(parts)
    return "lock file unreadable" if info else "lock file empty"


def check_train_folder(out: Path, *, resume: bool, overwrite: bool) -> None:
    """A folder with a train run in it is continued (``resume``) or replaced (``overwrite``)
    only when asked; ``RunFolderError`` otherwise, saying what the folder holds. Touches
    nothing: ``remove_train_files`` deletes, once the new run's inputs have been checked."""
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite contradict each other: --resume continues the run in "
                             "--out, --overwrite replaces it; pass one")
    present = [name for name in TRAIN_FILES if (out / name).exists()]
    if overwrite or not present:
        if resume:
            note(f"--resume: no checkpoint in {str(out)!r}; starting from scratch")
        return
    if resume:
        if (out / "model.pt").exists():
            return
        raise RunFolderError(f"--resume: {str(out)!r} holds {', '.join(present)} but no model.pt to resume "
                             f"from; pass --overwrite to replace them or choose another --out")
    if (out / "metrics.json").exists():
        raise RunFolderError(f"{str(out)!r} holds a finished run ({_summary(out)}); pass --resume to continue "
                             f"it (a larger --iters), --overwrite to replace it, or choose another --out")
    raise RunFolderError(f"{str(out)!r} holds an unfinished run ({', '.join(present)}); pass --resume to "
                         f"continue it, --overwrite to start afresh, or choose another --out")


def _summary(out: Path) -> str:
    try:
        m = json.loads((out / "metrics.json").read_text())
        return f"mAP {m['map']:.4f} on {m['data']}, {m['bits']} bits, {m['iters']} steps"
    except (OSError, ValueError, KeyError, TypeError):
        return "metrics.json unreadable"


def remove_train_files(out: Path) -> None:
    """``--overwrite``: the files of the run in ``out`` (and temporary files a killed write left)."""
    removed = [name for name in TRAIN_FILES if (out / name).exists()]
    for name in removed:
        (out / name).unlink()
    for name in TRAIN_FILES:
        for tmp in out.glob(f".{name}.*"):
            tmp.unlink()
    if removed:
        note(f"--overwrite: removed {', '.join(removed)} from {str(out)!r}")
