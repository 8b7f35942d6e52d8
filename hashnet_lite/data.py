"""Retrieval data sets: a training set, a query set and a database, with multi-hot labels.

Every loader returns a ``RetrievalData``: three ``torch.utils.data.Dataset`` objects whose
items are ``(x, y)`` with ``x`` a float32 tensor of ``input_shape`` and ``y`` a float32
multi-hot row of length C, the same labels as uint8 numpy arrays (what ``retrieval``
needs), the protocol's R for mAP@R and one sentence that says how the split was made.

Specs (``load_data(spec)``; ``parse_data_spec`` checks the form):

- ``digits``: sklearn's shipped 8x8 digits; 18 queries and 50 training items per class,
  database = every non-query item. Images (1, 8, 8), pixel / 16.
- ``fashion-mnist[:ROOT]``: the 70,000 Fashion-MNIST images; 100 queries and 500 training
  items per class, database = every non-query item (69,000). Images (1, 28, 28), random
  crop (padding 2) + horizontal flip at training time.
- ``cifar10[:ROOT]``: the 60,000 CIFAR-10 images; 100 queries and 500 training items per
  class, database = the other 54,000 (training items excluded). Images (3, 32, 32), random
  crop (padding 4) + horizontal flip at training time.
- ``list:ROOT``, ``imagenet100[:ROOT]`` (R = 1000), ``nuswide[:ROOT]`` (R = 5000),
  ``coco[:ROOT]`` (R = 5000): the field's list files ``train.txt``, ``test.txt``,
  ``database.txt`` under ROOT. Images (3, 224, 224).
- ``npz:PATH``: your own arrays (see ``load_npz``).

Splits are drawn with ``np.random.default_rng(seed)``: the same seed gives the same split.
A spec without ROOT looks under ``default_data_root()`` (``$HASHNET_LITE_DATA``, else the
repository's ``data/`` folder). The image-file loaders live in ``datasets_images`` (it
imports torchvision, which takes seconds to import, so it is imported only when needed).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

# kind -> (argument: "none" | "optional" | "required", the form shown in error messages)
SPEC_FORMS = {
    "digits": ("none", "digits"),
    "fashion-mnist": ("optional", "fashion-mnist[:ROOT]"),
    "cifar10": ("optional", "cifar10[:ROOT]"),
    "npz": ("required", "npz:PATH"),
    "list": ("required", "list:ROOT"),
    "imagenet100": ("optional", "imagenet100[:ROOT]"),
    "nuswide": ("optional", "nuswide[:ROOT]"),
    "coco": ("optional", "coco[:ROOT]"),
}
NPZ_KEYS = ("x_train", "y_train", "x_query", "y_query", "x_database", "y_database")
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
        return _iterate_features(dataset)  # a Dataset built elsewhere: read it item by item


def _iterate_features(dataset: Dataset, batch_size: int = 64) -> np.ndarray:
    out = None
    start = 0
    for x, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        x = x.reshape(len(x), -1).numpy()
        if out is None:
            out = np.empty((len(dataset), x.shape[1]), dtype=np.float32)
        out[start:start + len(x)] = x
        start += len(x)
    return out if out is not None else np.empty((0, 0), dtype=np.float32)


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
    class_ids = np.asarray(class_ids, dtype=np.int64)
    num_classes = int(class_ids.max()) + 1
    labels = one_hot(class_ids, num_classes)
    train, query, db = split_per_class(class_ids, n_query, n_train, seed=seed,
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
        protocol=protocol)


# ---------------------------------------------------------------- specs and entry point

def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """``'kind[:argument]'`` -> (kind, argument or None); ValueError on any other form."""
    forms = ", ".join(form for _, form in SPEC_FORMS.values())
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"data spec {spec!r}: expected one of {forms}")
    kind, sep, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind not in SPEC_FORMS:
        raise ValueError(f"data spec {spec!r}: unknown kind {kind!r}; expected one of {forms}")
    need, form = SPEC_FORMS[kind]
    if need == "none" and sep:
        raise ValueError(f"data spec {spec!r}: {kind!r} takes no argument; expected {form!r}")
    if sep and not arg:
        raise ValueError(f"data spec {spec!r}: empty argument after ':'; expected {form!r}")
    if need == "required" and not sep:
        raise ValueError(f"data spec {spec!r}: {kind!r} needs an argument; expected {form!r}")
    return kind, (arg if sep else None)


def default_data_root() -> Path:
    """``$HASHNET_LITE_DATA`` if set, else the repository's ``data/`` folder."""
    env = os.environ.get("HASHNET_LITE_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1] / "data"


def load_data(spec: str, *, seed: int = 0, root: str | Path | None = None) -> RetrievalData:
    """Load the data set named by ``spec`` (see the module docstring for the forms).

    ``seed`` draws the split (digits, Fashion-MNIST, CIFAR-10); ``root`` replaces
    ``default_data_root()`` for specs given without a ROOT.
    """
    kind, arg = parse_data_spec(spec)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r}: expected a non-negative integer")
    seed = int(seed)
    base = Path(root).expanduser() if root is not None else default_data_root()
    if kind == "digits":
        return load_digits_data(spec, seed=seed)
    if kind == "npz":
        return load_npz(arg, spec=spec)
    from . import datasets_images as images  # imports torchvision: only when needed

    if kind == "fashion-mnist":
        return images.load_fashion_mnist(spec, arg, base, seed=seed)
    if kind == "cifar10":
        folder = Path(arg).expanduser() if arg else base / "cifar10"
        return images.load_cifar10(spec, folder, seed=seed)
    folder = Path(arg).expanduser() if arg else base / kind
    return images.load_list_files(spec, folder, topk=images.LIST_TOPK[kind], name=kind)


# ---------------------------------------------------------------- digits and npz

def load_digits_data(spec: str = "digits", *, seed: int = 0) -> RetrievalData:
    """sklearn's 1,797 8x8 digits as (1, 8, 8) images in [0, 1]; 18 queries, 50 train per class."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8)
    return split_arrays(spec, x, digits.target, seed=seed, n_query=18, n_train=50,
                        database="rest", topk=None, name="digits (sklearn)")


def load_npz(path, *, spec: str | None = None) -> RetrievalData:
    """Your own arrays from an .npz file with keys ``x_train y_train x_query y_query
    x_database y_database`` (no split is made: the parts are used as given).

    Inputs: 2-D x -> feature vectors (D,), standardised with the training part's mean
    and std (a column with std 0 is only centred), so an MLP trains at any scale;
    3-D (N, H, W) -> (1, H, W) images; 4-D -> NCHW, or NHWC when the last axis is 1 or 3
    and the second is not. uint8 images are scaled to [0, 1]; float images are used as
    they are. Labels: 1-D non-negative class ids (one-hot, C = max id + 1 over all three
    parts) or 2-D multi-hot 0/1 rows, the same kind in every part.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"npz file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise ValueError(f"npz file {str(path)!r} lacks the keys {missing}; it has "
                                 f"{sorted(f.files)}, expected all of {list(NPZ_KEYS)}")
            arrays = {k: f[k] for k in NPZ_KEYS}
    except ValueError as e:
        if "lacks the keys" in str(e):
            raise
        raise ValueError(f"npz file {str(path)!r} could not be read as plain arrays: {e}") from e
    except (OSError, EOFError) as e:
        raise ValueError(f"npz file {str(path)!r} is not a readable .npz file: {e}") from e

    xs = {p: arrays[f"x_{p}"] for p in PARTS}
    ys = {p: arrays[f"y_{p}"] for p in PARTS}
    labels = _npz_labels(path, xs, ys)  # checks rows, kinds, values
    x_kind = _npz_check_inputs(path, xs)
    num_classes = labels["train"].shape[1]

    if x_kind == "features":
        train = xs["train"].astype(np.float64)
        mean, std = train.mean(0), train.std(0)
        std[std == 0] = 1.0  # a constant column: centre it, do not divide by zero
        xs = {p: torch.from_numpy(((v - mean) / std).astype(np.float32)) for p, v in xs.items()}
    else:
        xs = {p: torch.from_numpy(_to_nchw(v)) for p, v in xs.items()}
    what = ("feature vectors standardised with the training part's mean/std"
            if x_kind == "features" else "images" + (" scaled from uint8 to [0, 1]"
                                                     if xs["train"].dtype == torch.uint8 else ""))
    protocol = (f"npz file {path.name}: {len(xs['train']):,} training items, "
                f"{len(xs['query']):,} queries, {len(xs['database']):,} database items as given "
                f"in the file (no split drawn, seed unused), {num_classes} classes, {what}; "
                f"mAP@all.")
    return RetrievalData(
        spec=spec or f"npz:{path}",
        train=ArrayDataset(xs["train"], torch.from_numpy(labels["train"])),
        query=ArrayDataset(xs["query"], torch.from_numpy(labels["query"])),
        database=ArrayDataset(xs["database"], torch.from_numpy(labels["database"])),
        y_train=labels["train"], y_query=labels["query"], y_database=labels["database"],
        input_shape=tuple(xs["train"].shape[1:]), num_classes=num_classes, topk=None,
        protocol=protocol)


def _npz_labels(path: Path, xs: dict, ys: dict) -> dict:
    where = f"npz file {str(path)!r}"
    for p in PARTS:
        if xs[p].ndim == 0 or ys[p].ndim not in (1, 2):
            raise ValueError(f"{where}: x_{p} must be (N, ...) and y_{p} (N,) or (N, C); got "
                             f"shapes {xs[p].shape} and {ys[p].shape}")
        if len(xs[p]) != len(ys[p]):
            raise ValueError(f"{where}: x_{p} has {len(xs[p])} rows but y_{p} has {len(ys[p])}")
        if len(xs[p]) == 0:
            raise ValueError(f"{where}: x_{p} is empty; every part needs at least one item")
        if not (np.issubdtype(ys[p].dtype, np.number) or ys[p].dtype == bool):
            raise ValueError(f"{where}: y_{p} has dtype {ys[p].dtype}; expected numbers")
    kinds = {p: ys[p].ndim for p in PARTS}
    if len(set(kinds.values())) != 1:
        raise ValueError(f"{where}: label kinds differ between parts (ndim {kinds}); use 1-D "
                         f"class ids everywhere or 2-D multi-hot rows everywhere")
    if kinds["train"] == 1:
        for p in PARTS:
            y = ys[p].astype(np.float64)
            wrong = (y < 0) | (y != np.round(y))  # NaN is caught here too
            if wrong.any():
                bad = ys[p][wrong][:5]
                raise ValueError(f"{where}: y_{p} must hold non-negative integer class ids; "
                                 f"found {bad.tolist()}")
        num_classes = int(max(ys[p].max() for p in PARTS)) + 1
        return {p: one_hot(ys[p].astype(np.int64), num_classes) for p in PARTS}
    widths = {p: ys[p].shape[1] for p in PARTS}
    if len(set(widths.values())) != 1:
        raise ValueError(f"{where}: multi-hot label widths differ between parts: {widths}")
    for p in PARTS:
        bad = ys[p][(ys[p] != 0) & (ys[p] != 1)]
        if bad.size:
            raise ValueError(f"{where}: y_{p} must hold 0/1 multi-hot rows; found values "
                             f"{np.unique(bad)[:5].tolist()}")
    return {p: ys[p].astype(np.uint8) for p in PARTS}


def _npz_check_inputs(path: Path, xs: dict) -> str:
    where = f"npz file {str(path)!r}"
    shapes = {p: xs[p].shape[1:] for p in PARTS}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"{where}: item shapes differ between parts: {shapes}")
    ndim = xs["train"].ndim
    if ndim not in (2, 3, 4):
        raise ValueError(f"{where}: x_train has shape {xs['train'].shape}; expected (N, D) "
                         f"features, (N, H, W) or (N, C, H, W) / (N, H, W, C) images")
    dtypes = {p: xs[p].dtype for p in PARTS}
    for p in PARTS:
        if not (np.issubdtype(xs[p].dtype, np.number) or xs[p].dtype == bool):
            raise ValueError(f"{where}: x_{p} has dtype {xs[p].dtype}; expected numbers")
        if np.issubdtype(xs[p].dtype, np.floating) and not np.all(np.isfinite(xs[p])):
            raise ValueError(f"{where}: x_{p} holds NaN or infinite values")
    if ndim > 2 and len({d == np.uint8 for d in dtypes.values()}) != 1:
        raise ValueError(f"{where}: image dtypes differ between parts: {dtypes} (uint8 is "
                         f"scaled to [0, 1], other types are not: use one type)")
    return "features" if ndim == 2 else "images"


def _to_nchw(x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    x = np.ascontiguousarray(x)
    return x if x.dtype == np.uint8 else x.astype(np.float32)
