"""Run folders: one run per output folder, checked before any data is loaded.

What the ``demo``, ``train`` and ``reproduce`` commands do with ``--out DIR``, in order:

1. ``prepare_out_dir``: DIR is created and proved writable (a probe file is written and
   removed), so a typo or a read-only disk fails in a second, not after hours of training.
2. ``RunLock``: DIR/run.lock holds the pid, host, start time and command of the run using
   the folder, under an exclusive ``flock``. A second run into DIR is refused while the
   first holds it. The kernel drops the flock when a process dies however it dies
   (SIGKILL included), so a lock file that nobody holds is stale by construction: the
   next run takes it over and says so. (Checking the pid alone would be fooled by pid
   reuse; the flock cannot be.)
3. ``check_run_kind``: every command that writes a run folder (``demo``, ``train``,
   ``reproduce``) refuses a folder that holds another kind of run, whose files it would mix
   with its own. A run's kind is told by the files that only it writes (``KIND_FILES``),
   so a folder from any version of the package is recognised, and a run killed before it
   wrote any of them left nothing to mix with.
4. Within its own kind: ``check_train_folder`` continues a finished or unfinished train run
   only with ``--resume`` and replaces it only with ``--overwrite``, never silently;
   ``check_same_evaluation`` refuses a ``--resume`` that would rewrite metrics.json at another
   R; ``reproduce`` keeps the rows made by the same run (``result_rows``); ``demo`` replaces
   the previous demo, as its help says, and says so.

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
# The files that only one kind of run writes: any one of them tells the kind of the run.
KIND_FILES = {
    "train": ("model.pt", "codes.npz", "history.json"),
    "reproduce": ("checkpoints", "results.json", "pr_curves.json", "results.md"),
    "demo": ("demo.png",),
    "tune": ("tune.json", "tune.md"),
}


def note(message: str) -> None:
    """A line for the user on stderr that is neither an error nor a warning."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def prepare_out_dir(out) -> Path:
    """Creates ``out`` (and its parents) and checks that files can be written in it;
    ``RunFolderError`` naming the folder otherwise."""
    if not str(out).strip():
        raise RunFolderError(f"--out {str(out)!r} is empty: expected a folder for the run's files, "
                             f"e.g. runs/mine")
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


def run_kind(out: Path) -> tuple[str, list[str]] | None:
    """(kind, the files that tell it) of the run in ``out``: 'train', 'reproduce' or 'demo';
    None when ``out`` holds none of their files."""
    for kind, names in KIND_FILES.items():
        present = [name for name in names if (out / name).exists()]
        if present:
            return kind, present
    return None


def check_run_kind(out: Path, kind: str) -> None:
    """``RunFolderError`` if ``out`` holds a run of another kind than ``kind`` (the command
    about to write into it): its files and this run's would be mixed in one folder."""
    found = run_kind(out)
    if found is not None and found[0] != kind:
        other, present = found
        raise RunFolderError(f"{str(out)!r} holds a {other} run ({', '.join(present)}); {kind} would mix its "
                             f"files with that run's, and its --resume or --overwrite apply only to a {kind} "
                             f"run: choose another --out, or move that run away")
    if kind == "demo" and found is not None:
        note(f"replacing the demo in {str(out)!r} ({_summary(out, demo=True)})")
    elif kind == "demo" and (out / "metrics.json").exists():
        raise RunFolderError(f"{str(out)!r} holds a metrics.json that no demo wrote ({_summary(out)}); demo "
                             f"would replace it: choose another --out")


def check_same_evaluation(out: Path, topk, *, resume: bool) -> None:
    """A ``--resume`` of a finished run evaluates it again; with another R than the one its
    metrics.json holds, that would replace mAP@R_old by mAP@R_new without a word: refused."""
    if not resume or not (out / "metrics.json").is_file():
        return
    try:
        old = json.loads((out / "metrics.json").read_text())["topk"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # unreadable: the resume rewrites it (a truncated file is rebuilt)
    if old != topk:
        def at(r):
            return "mAP@all" if r is None else f"mAP@{r}"

        same = "leave --topk out" if old is None else f"pass --topk {old}"
        raise RunFolderError(f"--resume: {str(out)!r} holds a finished run evaluated with {at(old)}; resuming "
                             f"with {at(topk)} would replace it in metrics.json: {same} to resume it, or compute "
                             f"{at(topk)} from its codes.npz (hashnet_lite.mean_average_precision(..., "
                             f"topk={topk}))")


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


def _summary(out: Path, *, demo: bool = False) -> str:
    try:
        m = json.loads((out / "metrics.json").read_text())
        if demo:
            return f"HashNet mAP {m['map']['HashNet']:.4f} at {m['bits']} bits"
        method = f"{m['method']} " if "method" in m else ""
        return f"{method}mAP {m['map']:.4f} on {m['data']}, {m['bits']} bits, {m['iters']} steps"
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
