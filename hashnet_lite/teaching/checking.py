"""What every checker of the lessons shares: the feedback it returns, strict mode, and the
helpers that call the learner's code and read its answer.

- **Unanswered** (the answer is None, returns None, or raises ``NotImplementedError``): a
  checker says what to do and passes quietly, so a lesson runs from top to bottom with its
  exercises open (the notebooks run under nbval that way).
- **Strict mode** (``strict=True``, or automatically under nbgrader's ``autograde`` and
  ``validate``, which set ``NBGRADER_EXECUTION``, or with ``HASHNET_LITE_STRICT=1``): a wrong
  or missing answer raises ``AssertionError``. nbgrader counts that as a failed test cell.

The checkers themselves live in ``exercises`` (lessons 01-07) and ``capstone`` (lesson 08).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

PASS, WRONG, OPEN = "correct", "not yet", "not answered"
_MARK = {PASS: "\u2714 Correct", WRONG: "\u2718 Not yet", OPEN: "\u2026 Not answered yet"}


@dataclass(frozen=True)
class Feedback:
    """What a checker found: ``status`` is "correct", "not yet" or "not answered"."""

    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{_MARK[self.status]} ({self.exercise}): {self.message}"

    __repr__ = __str__


class _Wrong(Exception):
    """Raised inside a checker with the message for the learner."""


class _Open(Exception):
    """The learner has not answered yet."""


def strict_mode(strict: bool | None = None) -> bool:
    """``strict`` if given; else True under nbgrader (autograde, validate) or HASHNET_LITE_STRICT=1."""
    if strict is not None:
        return bool(strict)
    return (os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate")
            or os.environ.get("HASHNET_LITE_STRICT") == "1")


def _run(name: str, body: Callable[[], str], strict: bool | None) -> Feedback:
    try:
        feedback = Feedback(name, PASS, body())
    except _Open as e:
        feedback = Feedback(name, OPEN, f"{e} Stuck? hint({name!r}); the answer: solution({name!r}).")
    except _Wrong as e:
        feedback = Feedback(name, WRONG, f"{e} A hint: hint({name!r}).")
    if strict_mode(strict) and not feedback.passed:
        raise AssertionError(str(feedback))
    return feedback


def _call(name: str, fn, *args, **kwargs):
    """The learner's fn(*args): _Open when it is missing or unfinished, _Wrong when it raises."""
    if fn is None:
        raise _Open(f"write `{name}` in the cell above, run that cell, then run this one.")
    if not callable(fn):
        raise _Wrong(f"expected a function, got {type(fn).__name__} {fn!r}.")
    try:
        out = fn(*args, **kwargs)
    except NotImplementedError:
        raise _Open(f"`{name}` still raises NotImplementedError: replace that line with your code, "
                    "run the cell, then run this one.") from None
    except Exception as e:  # the learner's bug: say which and on what input
        raise _Wrong(f"your `{name}` raised {type(e).__name__}: {e} (on the inputs {_short(args)}).") from None
    if out is None:
        raise _Open(f"`{name}` returns None: make it return its result (a `return` is missing?).")
    return out


def _short(args) -> str:
    parts = []
    for a in args:
        arr = np.asarray(a.detach() if hasattr(a, "detach") else a)
        parts.append(f"array of shape {arr.shape}" if arr.size > 8 else np.array2string(arr, separator=", "))
    return ", ".join(parts)


def _array(name: str, out, shape: tuple, what: str) -> np.ndarray:
    """The learner's output as a float64 array of ``shape``, or _Wrong naming the shape."""
    arr = np.asarray(out.detach().cpu() if hasattr(out, "detach") else out, dtype=np.float64)
    if arr.shape != shape:
        transposed = len(shape) == 2 and arr.shape == shape[::-1]
        raise _Wrong(f"shape: your `{name}` returned shape {arr.shape}; expected {shape} ({what})"
                     + (". It looks transposed." if transposed else "."))
    return arr


def _number(name: str, out) -> float:
    try:
        value = float(out.item() if hasattr(out, "item") else out)
    except (TypeError, ValueError):
        raise _Wrong(f"your `{name}` returned {type(out).__name__} {out!r}; expected one number.") from None
    return value


def _close(a, b, tol: float = 1e-9) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=tol, atol=tol, equal_nan=False))


def _name_the_slip(got: float, slips: dict, where: str, rel_tol: float) -> None:
    """_Wrong("{where}: {slip}.") for the first slip whose value ``got`` matches; else nothing."""
    for slip, value in slips.items():
        if math.isclose(got, value, rel_tol=rel_tol):
            raise _Wrong(f"{where}: {slip}.")
