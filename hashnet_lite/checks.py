"""Argument checks and label conversions, written once for the whole package.

Bad input gets a ``ValueError`` that names the argument, the value and what was expected,
before any work is done. This module imports nothing else of hashnet_lite (and only numpy),
so the bottom layer, ``retrieval``, can use it and still stand alone.

Labels come in two forms everywhere: 1-D class ids (N,) (similar = same class) and 2-D 0/1
multi-hot rows (N, C) (similar = share at least one label; an all-zero row is an item with
no label, similar to nothing).
"""
from __future__ import annotations

import math
import numbers

import numpy as np


def is_integer(value) -> bool:
    """A Python or numpy integer, and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A real Python or numpy number, and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_number(value) -> bool:
    """A real number that is neither inf nor NaN (inf passes "> 0" and turns a loss into NaN)."""
    return is_number(value) and math.isfinite(value)


def check(ok: bool, name: str, value, expected: str) -> None:
    """Raise ``ValueError("name=value is invalid: expected ...")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name}={value!r} is invalid: expected {expected}")


def check_integer(name: str, value, low: int) -> int:
    """``value`` as an int, if it is an integer >= ``low``."""
    check(is_integer(value) and value >= low, name, value, f"an integer >= {low}")
    return int(value)


def check_option(name: str, value, allowed: tuple) -> str:
    """``value``, if it is one of the strings ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is unknown: expected one of {', '.join(map(repr, allowed))}")
    return value


def as_numpy(x, name: str) -> np.ndarray:
    """A view of ``x`` as numpy, never a modified copy; torch tensors are detached and moved
    to the CPU (checked by module name, so torch is not imported here)."""
    if type(x).__module__.split(".")[0] == "torch":
        x = x.detach().cpu()
        try:
            return x.numpy()
        except TypeError:  # bfloat16 and friends have no numpy dtype
            return x.float().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array ({err})") from None


# One-hot rows of class ids beyond this size (2 GiB) are refused: ids that large are names
# (1e9, 2**63), and their columns would be almost all empty.
MAX_ONE_HOT_BYTES = 2**31


def label_rows(labels, name: str = "labels", num_classes: int | None = None) -> np.ndarray:
    """Labels as uint8 0/1 rows (N, C): class ids are one-hot encoded (C = ``num_classes``,
    else the largest id + 1), multi-hot rows are checked and returned as uint8. Class ids
    must be integers (float ids are refused, never rounded); ids whose one-hot rows would
    exceed ``MAX_ONE_HOT_BYTES`` are refused with a hint to map them to 0..C-1."""
    a = as_numpy(labels, name)
    if a.ndim == 1:
        if a.dtype.kind not in "iu" or (a.size and a.min() < 0):
            raise ValueError(f"{name} (dtype {a.dtype}) must hold class ids (integers >= 0) or 0/1 rows")
        width = (int(a.max()) + 1 if a.size else 1) if num_classes is None else int(num_classes)
        if a.size and a.max() >= width:
            raise ValueError(f"{name} holds the class id {int(a.max())}: expected ids below num_classes={width}")
        if len(a) * width > MAX_ONE_HOT_BYTES:
            raise ValueError(f"{name} holds the class id {int(a.max())}: one-hot rows would need {width:,} columns "
                             f"for {len(a):,} items; map the ids to 0..C-1 first "
                             f"(np.unique(labels, return_inverse=True)[1])")
        out = np.zeros((len(a), width), np.uint8)
        out[np.arange(len(a)), a] = 1  # indexed by the ids as they are: a uint64 id is never cast
        return out
    if a.ndim != 2:
        raise ValueError(f"{name} has shape {a.shape}: expected (N,) class ids or (N, C) multi-hot rows")
    if a.dtype.kind not in "biuf" or not ((a == 0) | (a == 1)).all():
        raise ValueError(f"{name} must hold 0/1 multi-hot rows (an all-zero row: an item with no label)")
    return a.astype(np.uint8)


def class_ids(labels, name: str = "labels") -> np.ndarray:
    """One class per item, int64 (N,): the first label of a multi-hot row, -1 for a row with
    no label; class ids come back as they are (a copy)."""
    rows = label_rows(labels, name)
    return np.where(rows.any(axis=1), rows.argmax(axis=1), -1).astype(np.int64)
