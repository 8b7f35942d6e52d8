"""Your own arrays: an .npz file with the three parts already split."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .container import PARTS, ArrayDataset, RetrievalData, one_hot

NPZ_KEYS = ("x_train", "y_train", "x_query", "y_query", "x_database", "y_database")


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
