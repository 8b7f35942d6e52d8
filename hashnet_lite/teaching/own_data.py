"""Lesson 09, your own data: arrays to an npz file under a stated protocol, and a number reported
under another paper's protocol. The checkers of the two exercises and their hidden references.

- ``write_npz(path, x, y, query_per_class, train_per_class, seed)``: the six arrays ``data.npz``
  reads (``NPZ_KEYS``), split as the package splits the digits: ``query_per_class`` queries per
  class, the database every other item, the training set ``train_per_class`` items per class
  drawn from the database (never a query); it returns the path it wrote;
- ``protocol_report(codes_path, topk, empty)``: mAP@R of a run's ``codes.npz`` under a chosen R
  and empty-query convention, with what the number depends on (R, the convention, the tie rule,
  how many queries the mean holds).
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from ..data.npz import NPZ_KEYS, load_npz
from .checking import Feedback, _call, _run, _Wrong


def digits_as_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as arrays you might bring: x (N, 8, 8) uint8 in 0..255, y (N,) int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (np.round(digits.images * 255 / 16).astype(np.uint8), digits.target.astype(np.int64))


def export_npz(data, path) -> Path:
    """Writes the three parts of a loaded data set held in arrays (digits, Fashion-MNIST, npz:) as an
    npz file that ``load_data("npz:...")`` reads back as given: its own split, in the six keys."""
    parts = {}
    for part in ("train", "query", "database"):
        dataset = getattr(data, part)
        rows = np.arange(len(dataset.x)) if dataset.index is None else np.asarray(dataset.index)
        parts[f"x_{part}"] = np.asarray(dataset.x)[rows]
        parts[f"y_{part}"] = np.asarray(getattr(data, f"y_{part}"))
    np.savez(path, **parts)
    return Path(path)


# ======================================================================== 1 the npz file
def _reference_write_npz(path, x, y, query_per_class=18, train_per_class=50, seed=0):
    """Queries: query_per_class items of each class; database: every other item; training set:
    train_per_class items of each class drawn from the database. Saved with np.savez; returns path."""
    rng = np.random.default_rng(seed)
    query, train = [], []
    for c in np.unique(y):
        items = rng.permutation(np.flatnonzero(y == c))  # this class's items, shuffled
        query.extend(items[:query_per_class])
        train.extend(items[query_per_class:query_per_class + train_per_class])  # never a query
    query, train = np.sort(query), np.sort(train)
    database = np.setdiff1d(np.arange(len(y)), query)  # every item that is not a query
    np.savez(path, x_train=x[train], y_train=y[train], x_query=x[query], y_query=y[query],
             x_database=x[database], y_database=y[database])
    return path


def _traceable(n_per_class=(30, 25, 40), side: int = 4):
    """Items whose pixels hold their own index (so the checker can follow each one into the file)."""
    y = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)]).astype(np.int64)
    y = y[np.random.default_rng(7).permutation(len(y))]
    x = np.zeros((len(y), side, side), np.uint8)
    x[:, 0, 0], x[:, 0, 1] = np.arange(len(y)) // 256, np.arange(len(y)) % 256
    x[:, 1:, :] = 200  # not a blank image
    return x, y


def _ids(x) -> np.ndarray:
    x = np.asarray(x)
    return x[:, 0, 0].astype(np.int64) * 256 + x[:, 0, 1]


def _per_class(labels, classes: int, n: int, what: str, advice: str = "") -> None:
    counts = np.bincount(labels, minlength=classes)
    if not (counts == n).all():
        raise _Wrong(f"the {what} per class are {counts.tolist()}; the protocol asks for {n} of each class{advice}.")


def check_write_npz(write_npz, *, strict: bool | None = None) -> Feedback:
    """Checks ``write_npz(path, x, y, query_per_class, train_per_class, seed)``: the file opens with
    ``data.load_npz``, holds the six keys, and follows the protocol (per-class counts, no query in the
    database or the training set, the database every non-query item, labels aligned with the items)."""
    name = "write_npz"

    def body():
        x, y = _traceable()
        q, t = 5, 8
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "mine.npz"
            written = Path(_call(name, write_npz, path, x.copy(), y.copy(), q, t, 0))
            if written != path:
                raise _Wrong(f"return the path you wrote ({path.name}); you returned {str(written)!r}.")
            if not path.exists():
                raise _Wrong(f"no file at the path given ({path.name}): save with np.savez(path, ...).")
            with np.load(path) as f:
                arrays = {k: f[k] for k in f.files}
            missing = [k for k in NPZ_KEYS if k not in arrays]
            if missing:
                raise _Wrong(f"the file holds {sorted(arrays)}; data/npz.py reads {list(NPZ_KEYS)} (missing: "
                             f"{missing}).")
            try:
                load_npz(path)
            except Exception as e:  # noqa: BLE001 - the package's own message says what is wrong
                raise _Wrong(f"load_npz refuses the file: {e}") from None
        ids = {p: _ids(arrays[f"x_{p}"]) for p in ("train", "query", "database")}
        for part, got in ids.items():
            if not np.array_equal(y[got], np.asarray(arrays[f"y_{part}"]).ravel()):
                raise _Wrong(f"in the {part} part the labels do not belong to the items beside them: index x and "
                             "y with the same rows (x[rows], y[rows]).")
        classes = len(np.unique(y))
        _per_class(y[ids["query"]], classes, q, "queries", f" (draw them class by class, not {q * classes} at random)")
        leaked = np.intersect1d(ids["query"], ids["database"])
        if leaked.size:
            raise _Wrong(f"{leaked.size} queries are in the database too: each would find itself at distance 0 "
                         "and raise mAP. The database is every item that is not a query.")
        if len(ids["database"]) != len(y) - len(ids["query"]) or len(np.unique(ids["database"])) != len(ids["database"]):
            raise _Wrong(f"the database holds {len(ids['database'])} items; every non-query item is "
                         f"{len(y) - len(ids['query'])}, each once.")
        seen = np.intersect1d(ids["train"], ids["query"])
        if seen.size:
            raise _Wrong(f"{seen.size} training items are queries: the network would be tested on items it trained "
                         "on. Draw the training set from the database.")
        _per_class(y[ids["train"]], classes, t, "training items")
        return (f"your file opens with load_npz and follows the protocol: {q} queries and {t} training items per "
                "class, the database every other item, no query seen in training or found in the database.")

    return _run(name, body, strict)


# ======================================================================== 2 the report
def map_by_r(codes_path, topks) -> dict:
    """{"zero": [...], "skip": [...]}: mAP@R of a run's codes.npz at every R of ``topks``, under
    both empty-query conventions (``lesson09.plot_map_by_r`` draws it)."""
    from ..retrieval import mean_average_precision

    with np.load(codes_path) as f:
        args = (f["query_codes"], f["database_codes"], f["query_labels"], f["database_labels"])
        return {empty: [mean_average_precision(*args, topk=int(r), empty=empty) for r in topks]
                for empty in ("zero", "skip")}


def _reference_protocol_report(codes_path, topk, empty):
    """mAP@topk of a run's codes.npz under the convention `empty`, and what the number depends on."""
    from hashnet_lite import average_precisions

    with np.load(codes_path) as f:
        ap = average_precisions(f["query_codes"], f["database_codes"], f["query_labels"], f["database_labels"],
                                topk=topk, empty=empty)  # NaN for a query left out ("skip")
    kept = ap[~np.isnan(ap)]
    return {"map": float(kept.mean()), "R": topk, "empty": empty, "ties": "index", "queries": int(kept.size)}


def _report_codes(path: Path) -> None:
    """A codes.npz in which R and the convention both matter: 8-bit codes with many ties, some
    queries with nothing relevant in their top 5."""
    rng = np.random.default_rng(3)
    qc = np.where(rng.random((12, 8)) < 0.5, -1, 1).astype(np.int8)
    dc = np.where(rng.random((60, 8)) < 0.5, -1, 1).astype(np.int8)
    ql, dl = np.eye(4, dtype=np.uint8)[np.arange(12) % 4], np.eye(4, dtype=np.uint8)[rng.integers(0, 4, 60)]
    np.savez(path, query_codes=qc, database_codes=dc, query_labels=ql, database_labels=dl)


def check_protocol_report(protocol_report, *, strict: bool | None = None) -> Feedback:
    """Checks ``protocol_report(codes_path, topk, empty)`` on a codes.npz where R and the convention
    both change the number: the mAP, and the R, convention, tie rule and number of queries it reports."""
    name = "protocol_report"

    def body():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "codes.npz"
            _report_codes(path)
            for topk, empty in ((5, "skip"), (5, "zero"), (None, "zero")):
                what = f"R = {topk if topk else 'all'}, empty={empty!r}"
                expected = _reference_protocol_report(path, topk, empty)
                got = _call(name, protocol_report, path, topk, empty)
                if not isinstance(got, dict):
                    raise _Wrong(f"return a dict with the keys {sorted(expected)}; you returned {type(got).__name__}.")
                missing = sorted(set(expected) - set(got))
                if missing:
                    raise _Wrong(f"with {what} your report lacks {missing}: a number without its R, convention and "
                                 "tie rule cannot be compared.")
                value = float(got["map"])
                if not math.isclose(value, expected["map"], abs_tol=1e-9):
                    for other_r, other_e, slip in ((None, empty, "you computed mAP@all: pass topk=R"),
                                                   (topk, "zero" if empty == "skip" else "skip",
                                                    f"you used the other convention; this protocol asks for "
                                                    f"empty={empty!r}")):
                        if math.isclose(value, _reference_protocol_report(path, other_r, other_e)["map"], abs_tol=1e-9):
                            raise _Wrong(f"with {what}: {slip}.")
                    raise _Wrong(f"with {what} you report mAP {value:.4f}; expected {expected['map']:.4f}.")
                for key in ("R", "empty", "ties"):
                    if got[key] != expected[key]:
                        raise _Wrong(f"with {what} your report says {key} = {got[key]!r}; the number was computed "
                                     f"with {key} = {expected[key]!r}.")
                if int(got["queries"]) != expected["queries"]:
                    raise _Wrong(f"with {what} your report counts {got['queries']} queries; the mean holds "
                                 f"{expected['queries']} (with 'skip', only the queries with something relevant "
                                 "in their top R).")
        return ("your report matches the package under three protocols, and says what its number depends on: with "
                "'skip' at R = 5 the same codes score higher, from fewer queries.")

    return _run(name, body, strict)
