"""The container every loader returns, and the seeded split the array data sets share.

``RetrievalData`` holds a training set, a query set and a database: three
``torch.utils.data.Dataset`` objects whose items are ``(x, y)`` with ``x`` a float32 tensor of
``input_shape`` and ``y`` a float32 multi-hot row of length C, the same labels as uint8 numpy
arrays (what ``retrieval`` needs), the protocol's R for mAP@R and one sentence that says how
the split was made.

Two things every loader shares live here too: ``labels_to_rows``, the one check and
conversion of labels (class ids are mapped to 0..C-1; parts with no label at all are
refused, unlabelled rows are counted in a warning), and ``data_fingerprint``, what a run
records about its data so that a checkpoint or a result row can never be mixed up with
another data set or split.
"""
from __future__ import annotations

import functools
import hashlib
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import DataError, DataWarning

# uint8 -> float32 in [0, 1] by table, with numpy's rounding of x / 255 (what ArrayDataset
# computes): the training device's batches (batches.DeviceData, data.jpeg) then give the
# DataLoader path's floats bit for bit (a multiply by 1/255 would not).
UINT8_TO_UNIT = np.divide(np.arange(256, dtype=np.uint8), np.float32(255.0), dtype=np.float32)


@functools.lru_cache(maxsize=None)
def unit_table(device: torch.device) -> torch.Tensor:
    """``UINT8_TO_UNIT`` on ``device`` (copied there once): ``unit_table(d)[x.int()]``."""
    return torch.from_numpy(UINT8_TO_UNIT).to(device)

PARTS = ("train", "query", "database")


@dataclass(frozen=True)
class RetrievalData:
    """A training set, a query set and a database, plus the protocol they follow."""

    spec: str
    train: Dataset  # items (x, y): x float32 of input_shape, y float32 (C,) multi-hot
    query: Dataset  # test-time transform (no augmentation)
    database: Dataset  # test-time transform
    y_train: np.ndarray  # (N_train, C) uint8 0/1
    y_query: np.ndarray  # (N_query, C) uint8
    y_database: np.ndarray  # (N_db, C) uint8
    input_shape: tuple
    num_classes: int
    topk: int | None  # the protocol's R for mAP@R (None: the whole database)
    protocol: str  # one sentence: sizes, how the split was made, R, seed
    # The seed the split was drawn with (None: parts given as they are, npz: and list:);
    # load_data(spec, seed=split_seed) gives this split again.
    split_seed: int | None = None
    # Labels given as class ids: the user's id of each label column (C,), int64 (uint64 when an
    # id is 2**63 or above), exactly as given; else None.
    label_ids: np.ndarray | None = None

    @functools.cached_property
    def fingerprint(self) -> dict:
        """``data_fingerprint(self)``, computed once (Fashion-MNIST-sized arrays: 0.15 s measured)."""
        return _fingerprint(self)

    def arrays(self, part: str) -> np.ndarray:
        """(N, D) float32 flattened inputs of ``part`` under the test-time transform.

        For shallow baselines (ITQ, LSH). Array-backed parts convert their stored arrays
        in one go; image-file parts are read image by image (at ImageNet scale that is
        N x 150,528 floats: take a subset first).
        """
        if part not in PARTS:
            raise ValueError(f"part={part!r}: expected one of {PARTS}")
        dataset = getattr(self, part)
        if hasattr(dataset, "features"):
            return dataset.features()
        return iterate_features(dataset)  # a Dataset built elsewhere: read it item by item


def iterate_features(dataset: Dataset, batch_size: int = 64) -> np.ndarray:
    out = None
    start = 0
    for x, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        x = x.reshape(len(x), -1).numpy()
        if out is None:
            out = np.empty((len(dataset), x.shape[1]), dtype=np.float32)
        out[start:start + len(x)] = x
        start += len(x)
    return out if out is not None else np.empty((0, 0), dtype=np.float32)


def held_in_arrays(dataset: Dataset) -> bool:
    """Whether ``dataset`` keeps its items in arrays the device path can hold (ArrayDataset)."""
    return all(hasattr(dataset, name) for name in ("x", "y", "index", "augment"))


class ArrayDataset(Dataset):
    """Items of in-memory arrays, converted to float32 a batch at a time.

    ``x``: (N, *input_shape); uint8 is read as an image in [0, 255] and scaled to [0, 1]
    per batch (Fashion-MNIST is 55 MB as uint8, 220 MB as float32), any other dtype is
    used as float32 as it is. ``y``: (N, C) 0/1 rows. ``index`` selects rows of x and y, so
    that the train/query/database parts can share one copy of the data. ``augment`` maps a
    float batch (B, *input_shape) to an augmented one (training sets only).

    ``__getitems__`` serves a whole batch with one indexing operation: the DataLoader's
    default fetcher calls it with the batch's indices and ``default_collate`` stacks the
    returned (x, y) pairs back. The gather and the conversion run in numpy, single-threaded
    on purpose: torch spreads even a 64 x 784 conversion over its OpenMP threads, and while
    other processes kept a 2-core machine busy, 5,000 Fashion-MNIST items took 1.9 s that
    way against 29 ms in numpy (equal when the machine is idle; benchmarks/bench_data.py).
    """

    def __init__(self, x, y, *, index=None,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None):
        x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        y = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        if x.ndim < 2 or y.ndim != 2 or len(x) != len(y):
            raise ValueError(f"ArrayDataset: expected x (N, ...) and y (N, C), got x "
                             f"{x.shape} and y {y.shape}")
        self.x, self.y = x, y  # numpy views of the caller's tensors: no copy
        self.index = None if index is None else np.asarray(index, dtype=np.int64)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.x) if self.index is None else len(self.index)

    def _batch(self, idx, augment: bool):
        rows = np.asarray(idx, dtype=np.int64)
        if self.index is not None:
            rows = self.index[rows]
        x = self.x[rows]
        if x.dtype == np.uint8:
            x = np.divide(x, np.float32(255.0), dtype=np.float32)
        else:
            x = x.astype(np.float32, copy=False)
        x = torch.from_numpy(x)
        if augment and self.augment is not None:
            x = self.augment(x)
        return x, torch.from_numpy(self.y[rows].astype(np.float32))

    def without_augmentation(self) -> "ArrayDataset":
        """The same items (sharing the arrays) with no training augmentation."""
        return ArrayDataset(self.x, self.y, index=self.index)

    def with_augmentation(self, augment: Callable[[torch.Tensor], torch.Tensor]) -> "ArrayDataset":
        """The same items (sharing the arrays) with ``augment`` as their training augmentation."""
        return ArrayDataset(self.x, self.y, index=self.index, augment=augment)

    def __getitems__(self, indices):
        x, y = self._batch(indices, augment=True)
        return list(zip(x.unbind(0), y.unbind(0)))

    def __getitem__(self, i):
        return self.__getitems__([i])[0]

    def features(self) -> np.ndarray:
        """(N, D) float32: every item without augmentation, flattened."""
        x, _ = self._batch(np.arange(len(self)), augment=False)
        return x.reshape(len(x), -1).numpy()


def split_per_class(labels, n_query: int, n_train: int, *, seed: int = 0,
                    database: str = "rest"):
    """Seeded stratified split of single-label items into (train, query, database) indices.

    Per class, ``n_query`` items go to the queries and ``n_train`` other items to the
    training set, drawn with ``np.random.default_rng(seed)``. ``database='rest'``: every
    non-query item (training items included; digits, Fashion-MNIST); ``'rest_minus_train'``:
    every item in neither (CIFAR-10's common variant). Indices are returned sorted.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels: expected 1-D class ids, got shape {labels.shape}")
    if database not in ("rest", "rest_minus_train"):
        raise ValueError(f"database={database!r}: expected 'rest' or 'rest_minus_train'")
    rng = np.random.default_rng(seed)
    train, query = [], []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < n_query + n_train:
            raise ValueError(f"class {c} has {len(members)} items; the split needs "
                             f"{n_query} queries + {n_train} training items per class")
        members = rng.permutation(members)
        query.append(members[:n_query])
        train.append(members[n_query:n_query + n_train])
    train, query = np.sort(np.concatenate(train)), np.sort(np.concatenate(query))
    taken = query if database == "rest" else np.concatenate([query, train])
    rest = np.setdiff1d(np.arange(len(labels)), taken)
    return train, query, rest


def one_hot(class_ids, num_classes: int) -> np.ndarray:
    """(N,) class ids -> (N, num_classes) uint8 0/1 rows."""
    class_ids = np.asarray(class_ids, dtype=np.int64)
    out = np.zeros((len(class_ids), num_classes), dtype=np.uint8)
    out[np.arange(len(class_ids)), class_ids] = 1
    return out


def split_arrays(spec: str, x: torch.Tensor, class_ids: np.ndarray, *, seed: int,
                 n_query: int, n_train: int, database: str, topk: int | None,
                 name: str, augment=None) -> RetrievalData:
    """A RetrievalData whose three parts share ``x`` through index arrays."""
    rows, label_ids = labels_to_rows({"all": class_ids}, name, names={"all": "labels"})
    labels = rows["all"]
    num_classes = labels.shape[1]
    train, query, db = split_per_class(label_ids[labels.argmax(1)], n_query, n_train, seed=seed,
                                       database=database)
    y = torch.from_numpy(labels)
    contents = ("every non-query item (training items included)" if database == "rest"
                else "every item that is neither a query nor a training item")
    protocol = (
        f"{name}: {len(x):,} items, {num_classes} classes; per class {n_query} queries "
        f"and {n_train} training items drawn with np.random.default_rng(seed={seed}) -> "
        f"{len(query):,} queries, {len(train):,} training items; database = {contents} "
        f"({len(db):,}); mAP@{'all' if topk is None else topk}.")
    return RetrievalData(
        spec=spec,
        train=ArrayDataset(x, y, index=train, augment=augment),
        query=ArrayDataset(x, y, index=query),
        database=ArrayDataset(x, y, index=db),
        y_train=labels[train], y_query=labels[query], y_database=labels[db],
        input_shape=tuple(x.shape[1:]), num_classes=num_classes, topk=topk,
        protocol=protocol, split_seed=seed, label_ids=label_ids)


# ---------------------------------------------------------------- labels

def labels_to_rows(ys: dict, where: str, *, names: dict | None = None) -> tuple[dict, np.ndarray | None]:
    """The label check and conversion every loader uses: ``ys`` maps a part to its labels,
    all (N,) class ids or all (N, C) 0/1 multi-hot rows. Returns ({part: (N, C) uint8 rows},
    label_ids), where label_ids (C,) holds the user's id of each column for class ids, exactly
    (int64, or uint64 when an id is 2**63 or above: ``exact_class_ids``), and is None for
    multi-hot rows.

    Class ids must be integers >= 0; they are mapped to 0..C-1 in sorted order over all
    parts, so C is the number of distinct ids (an id of 10**9 costs one column, not 10**9).
    Mapping changes no number: similarity only asks whether two rows share a column.
    A part whose rows are all zero is refused (nothing in it is similar to anything: training
    learns nothing, no query finds anything); some zero rows draw a ``DataWarning`` with
    their count. One label for every item draws a ``DataWarning`` (mAP is 1 whatever the
    codes), and so do (N, 1) multi-hot labels, which are most often class ids saved as a
    column. ``names`` says how to call each part's labels in messages (default y_PART).
    """
    names = {p: (names or {}).get(p, f"y_{p}") for p in ys}
    ys = {p: np.asarray(y) for p, y in ys.items()}
    for p, y in ys.items():
        if y.dtype.kind == "c":
            raise DataError(f"{where}: {names[p]} has complex dtype {y.dtype}; expected real class ids "
                            f"or 0/1 rows")
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            raise DataError(f"{where}: {names[p]} has dtype {y.dtype}; expected numbers")
        if y.ndim not in (1, 2):
            raise DataError(f"{where}: {names[p]} has shape {y.shape}; expected (N,) class ids or (N, C) rows")
    kinds = {p: y.ndim for p, y in ys.items()}
    if len(set(kinds.values())) != 1:
        raise DataError(f"{where}: label kinds differ between parts (ndim {kinds}); use 1-D "
                        f"class ids everywhere or 2-D multi-hot rows everywhere")
    if next(iter(kinds.values())) == 1:
        ids = {p: exact_class_ids(y, where, names[p]) for p, y in ys.items()}
        # One integer type for all parts (never a lossy promotion to float64): uint64 only
        # where an id is 2**63 or above, where every id is >= 0, so the cast is exact.
        wide = np.uint64 if any(a.dtype == np.uint64 for a in ids.values()) else np.int64
        ids = {p: a.astype(wide) for p, a in ids.items()}
        label_ids = np.unique(np.concatenate(list(ids.values())))
        rows = {}
        for p, y in ids.items():
            out = np.zeros((len(y), len(label_ids)), np.uint8)
            out[np.arange(len(y)), np.searchsorted(label_ids, y)] = 1
            rows[p] = out
        if len(label_ids) == 1:
            _warn_single_class(where, f"class id {label_ids[0]}")
        return rows, label_ids
    widths = {p: y.shape[1] for p, y in ys.items()}
    if len(set(widths.values())) != 1:
        raise DataError(f"{where}: multi-hot label widths differ between parts: {widths}")
    column = next(iter(widths.values())) == 1
    # (N, 1) labels are most likely class ids saved as a column, not one-label multi-hot rows.
    hint = (" (shape (N, 1): if these are class ids saved as a column, save them 1-D, y.ravel(), "
            "shape (N,))") if column else ""
    for p, y in ys.items():
        bad = y[(y != 0) & (y != 1)]
        if bad.size:
            raise DataError(f"{where}: {names[p]} must hold 0/1 multi-hot rows; found values "
                            f"{np.unique(bad)[:5].tolist()}{hint}")
    rows = {p: y.astype(np.uint8) for p, y in ys.items()}
    if column:
        warnings.warn(f"{where}: the labels have one column, read as multi-hot rows: 1 is the one label, "
                      f"0 no label{hint}", DataWarning, stacklevel=2)
    check_unlabelled(rows, where, names)
    used = np.flatnonzero(np.any([y.any(axis=0) for y in rows.values()], axis=0))
    if len(used) == 1 and all(y.any(axis=1).all() for y in rows.values()):
        _warn_single_class(where, f"label column {used[0]}")
    return rows, None


def exact_class_ids(y: np.ndarray, where: str, name: str) -> np.ndarray:
    """1-D class ids as int64 (uint64 where one is 2**63 or above), exactly as the user holds
    them, or a DataError: negative, fractional, NaN, or float ids beyond the integers the
    float type holds exactly (above 2**53 for float64, where ids that differ may already
    have been merged when they were saved, and 1e19 has no int64)."""
    if y.dtype.kind == "b":
        return y.astype(np.int64)
    if y.dtype.kind == "u":
        return y if y.dtype == np.uint64 and y.size and y.max() > np.iinfo(np.int64).max else y.astype(np.int64)
    as_float = y.astype(np.float64)
    wrong = (as_float < 0) | (as_float != np.round(as_float))  # NaN is caught here too
    if wrong.any():
        raise DataError(f"{where}: {name} must hold non-negative integer class ids; found {y[wrong][:5].tolist()}")
    if y.dtype.kind == "f":
        exact = 2 ** (np.finfo(y.dtype).nmant + 1)
        beyond = y[as_float > exact]
        if beyond.size:
            raise DataError(f"{where}: {name} holds the {y.dtype} class id {beyond[0].item()!r}, beyond 2**"
                            f"{np.finfo(y.dtype).nmant + 1}, above which {y.dtype} cannot hold every integer: "
                            f"ids that differ may have become equal when they were saved; save class ids as "
                            f"integers (np.int64, or np.uint64 for ids of 2**63 and above)")
    return y.astype(np.int64)


def _warn_single_class(where: str, label: str) -> None:
    warnings.warn(f"{where}: every item has the same label ({label}): every pair is similar, so any codes "
                  f"give mAP 1 and there is nothing to learn; check that the labels are the ones you meant",
                  DataWarning, stacklevel=3)


def check_unlabelled(rows: dict, where: str, names: dict) -> None:
    """Refuses a part with no label at all; warns with the count of rows with no label."""
    for p, y in rows.items():
        empty = int((y.sum(axis=1) == 0).sum()) if y.size else len(y)
        if len(y) and empty == len(y):
            raise DataError(f"{where}: every row of {names[p]} is all zero (no label); items with no "
                            f"label are similar to nothing, so there is nothing to learn or find")
        if empty:
            warnings.warn(f"{where}: {empty} of {len(y)} rows of {names[p]} have no label (all zero): "
                          f"they are similar to nothing", DataWarning, stacklevel=3)


# ---------------------------------------------------------------- fingerprint

def data_fingerprint(data) -> dict:
    """What a run was trained and evaluated on, as plain data: the ``spec``, the
    ``split_seed``, the ``sizes`` of the parts, ``input_shape``, ``num_classes`` and
    ``sha256``, a hash of every part's stored inputs and labels (``hashed: "arrays"``) or,
    for image files, of the file list and the labels (``"file list"``; the images themselves
    are not read). Two loads of the same data and split give the same fingerprint; a
    changed file, another split seed or another data set give another.

    Works on anything with ``spec``, ``input_shape`` and some of ``train``, ``query``,
    ``database`` (parts that hold neither arrays nor a file list leave ``sha256`` None).
    A RetrievalData computes it once (``data.fingerprint``).
    """
    return data.fingerprint if isinstance(data, RetrievalData) else _fingerprint(data)


def _fingerprint(data) -> dict:
    h = hashlib.sha256()
    sizes, kinds = {}, set()
    for part in PARTS:
        dataset = getattr(data, part, None)
        if dataset is None:
            continue
        sizes[part] = len(dataset)
        h.update(part.encode())
        kinds.add(_hash_dataset(h, dataset))
    hashed = kinds.pop() if len(kinds) == 1 else None
    return {"spec": str(data.spec), "split_seed": getattr(data, "split_seed", None), "sizes": sizes,
            "input_shape": [int(s) for s in data.input_shape],
            "num_classes": int(getattr(data, "num_classes", 0) or 0),
            "sha256": h.hexdigest() if hashed else None, "hashed": hashed}


def _hash_array(h, a) -> None:
    a = np.ascontiguousarray(a.numpy() if isinstance(a, torch.Tensor) else a)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B"))


def _hash_dataset(h, dataset) -> str | None:
    if isinstance(dataset, ArrayDataset):
        rows = slice(None) if dataset.index is None else dataset.index
        _hash_array(h, dataset.x[rows])
        _hash_array(h, dataset.y[rows])
        return "arrays"
    if hasattr(dataset, "paths") and hasattr(dataset, "labels"):  # image files (data/images.py)
        h.update("\n".join(map(str, dataset.paths)).encode())
        _hash_array(h, dataset.labels)
        return "file list"
    if isinstance(getattr(dataset, "x", None), (np.ndarray, torch.Tensor)) and \
            isinstance(getattr(dataset, "y", None), (np.ndarray, torch.Tensor)):
        _hash_array(h, dataset.x)  # an in-memory Dataset built elsewhere
        _hash_array(h, dataset.y)
        return "arrays"
    return None
