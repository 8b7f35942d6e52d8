"""A study's rows as units of work: one file and one lock per row, shared by any number of
processes writing into one folder.

A study (``reproduce``, ``tune``) is a grid of independent trainings. Each unit of work
(one method at one code length, or one trial) is claimed by a process through an exclusive
``flock`` on ``rows/NAME.lock`` and its result is written atomically to ``rows/NAME.json``.
So N processes, on one machine (``--jobs N``) or on many sharing a file system (``--shard
i/n``, a job array), can work on one folder:

- a row already written is skipped, and so is a row whose lock another process holds;
- the kernel drops a flock when its process dies, SIGKILL included, so a killed process
  leaves nothing that stops the next from taking its rows over (its checkpoint resumes);
- the tables (results.json, results.md, the figures) are assembled from the row files by
  whoever finishes, so the last process to finish writes the whole table.

flock works on local file systems and on NFS v4 (Linux maps it to POSIX locks there).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

from .io import write_json_atomic

ROWS = "rows"
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


def row_name(*parts) -> str:
    """The file name of a unit: its parts joined by '-', e.g. ``HashNet+C-32``."""
    name = "-".join(str(p) for p in parts)
    if not _NAME.match(name):
        raise ValueError(f"row name {name!r} is invalid: expected letters, digits and '_.+-' only")
    return name


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'i/n' (1 <= i <= n) -> (i, n); None stays None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(f"--shard={text!r} is invalid: expected i/n with 1 <= i <= n, e.g. 1/4")
    return int(match[1]), int(match[2])


def in_shard(index: int, shard: tuple[int, int] | None) -> bool:
    """Whether unit ``index`` (0-based, in the study's fixed order) belongs to ``shard``."""
    return shard is None or index % shard[1] == shard[0] - 1


class RowStore:
    """The row files and locks of one study folder."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder) / ROWS

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def read(self, name: str) -> dict | None:
        """The row written for ``name``, or None (none yet, or unreadable: made again)."""
        try:
            value = json.loads(self.path(name).read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def write(self, name: str, row: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(row, self.path(name))

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()

    def all(self) -> dict[str, dict]:
        """{name: row} of every readable row file."""
        rows = {}
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else ():
            row = self.read(path.stem)
            if row is not None:
                rows[path.stem] = row
        return rows

    @contextlib.contextmanager
    def exclusive(self, name: str):
        """``with store.exclusive(name):`` waits for and holds a lock of its own (e.g. while the
        tables are assembled), so that two processes never interleave that work."""
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def claim(self, name: str):
        """``with store.claim(name) as mine:`` mine is True while this process holds the unit's
        lock, False when another process holds it (the unit is skipped)."""
        import fcntl  # POSIX; the package targets Linux and macOS

        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: every rank trains every unit, together
            yield True
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield True
        finally:
            os.close(fd)  # drops the flock; the lock file stays (removing it would race an opener)
