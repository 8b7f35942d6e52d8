"""The errors and warnings a user can cause, and fix, by what they pass or where they point.

The package's convention is that bad input raises ``ValueError`` naming the argument and
the expected value (``checks.check``); the classes here refine it where the *state on disk*
is the problem, so that a caller can tell them apart and the CLI can print each as one line
with exit code 2 (``cli.main``). Everything else (a bug) still reaches the user as a
traceback. Subclassing ``ValueError`` keeps ``except ValueError`` working for callers of
the Python API.
"""
from __future__ import annotations


class HashNetLiteError(Exception):
    """Base class: a problem the user can fix; the message says what and how."""


class DataError(HashNetLiteError, ValueError):
    """A data file or folder that cannot be used as it is (corrupt, wrong format, degenerate)."""


class CheckpointError(HashNetLiteError, ValueError):
    """A checkpoint that cannot be read, or that belongs to another run (data, config, steps)."""


class RunFolderError(HashNetLiteError, ValueError):
    """An output folder that cannot take this run: not a writable folder, in use by another
    process, or holding results that this run would replace without being asked to."""


class DiskFullError(HashNetLiteError, OSError):
    """A write failed because its disk (or quota) is full: the message names the file and
    what survived (``io.atomic_write`` leaves the previous file, never a torn one)."""


class TrainingDiverged(HashNetLiteError, FloatingPointError):
    """The loss became NaN or infinite (usually: the learning rate is too high)."""


class DataWarning(UserWarning):
    """Data that can be used but is probably not what the user meant (e.g. unlabelled rows)."""
