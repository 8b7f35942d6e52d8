"""Your own arrays: an .npz file with the three parts already split."""
from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..io import path_problem
from .container import PARTS, ArrayDataset, RetrievalData, labels_to_rows

NPZ_KEYS = ("x_train", "y_train", "x_query", "y_query", "x_database", "y_database")


def load_npz(path, *, spec: str | None = None) -> RetrievalData:
    """Your own arrays from an .npz file with keys ``x_train y_train x_query y_query
    x_database y_database`` (no split is made: the parts are used as given).

    Inputs: 2-D x -> feature vectors (D,), standardised with the training part's mean
    and std (a column with std 0 is only centred), so an MLP trains at any scale;
    3-D (N, H, W) -> (1, H, W) images; 4-D -> NCHW, or NHWC when the last axis is 1 or 3
    and the second is not. uint8 images are scaled to [0, 1]; float images are used as
    they are. Labels: 1-D non-negative integer class ids (one-hot over the distinct ids of
    all three parts, in sorted order; ``label_ids`` keeps the ids) or 2-D multi-hot 0/1 rows,
    the same kind in every part (see ``labels_to_rows``). Complex inputs are refused.
    """
    path = Path(path).expanduser()
    arrays = _read_npz(path)
    xs = {p: arrays[f"x_{p}"] for p in PARTS}
    ys = {p: arrays[f"y_{p}"] for p in PARTS}
    labels, label_ids = _npz_labels(path, xs, ys)  # checks rows, kinds, values
    x_kind = _npz_check_inputs(path, xs)
    num_classes = labels["train"].shape[1]

    if x_kind == "features":
        xs = {p: torch.from_numpy(v) for p, v in _standardised(path, xs).items()}
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
        protocol=protocol, label_ids=label_ids)


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first bytes (empty archive: the second)
NPY_MAGIC = b"\x93NUMPY"


def _read_npz(path: Path) -> dict:
    """The six arrays of the file; a DataError that says what the file is otherwise.

    The first bytes tell an .npz (a zip archive) from a single .npy array, a pickle or
    text, so the message names what was found rather than numpy's guess ("pickled data").
    A truncated or damaged archive fails with zipfile's BadZipFile (not an OSError), at
    opening or, for a bad CRC, when an array is read: both become "corrupt".
    """
    where = f"npz file {str(path)!r}"
    problem = path_problem(path)
    if problem == "does not exist":
        raise FileNotFoundError(f"{where} does not exist")
    if problem:
        raise DataError(f"{where} {problem}; expected an .npz file made with np.savez")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise DataError(f"{where} cannot be read ({e.strerror})") from e
    if head.startswith(NPY_MAGIC):
        raise DataError(f"{where} holds a single array (.npy format); expected an .npz archive with the "
                        f"keys {list(NPZ_KEYS)}: save it with np.savez(path, x_train=..., y_train=..., ...)")
    if not head.startswith(ZIP_MAGIC):
        raise DataError(f"{where} is not an .npz file (it starts with {head[:8]!r}; an .npz is a zip "
                        f"archive made by np.savez)")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise DataError(f"{where} lacks the keys {missing}; it has {sorted(f.files)}, expected "
                                f"all of {list(NPZ_KEYS)}")
            for k in NPZ_KEYS:
                _check_declared_size(f, k, where)
            try:
                return {k: f[k] for k in NPZ_KEYS}
            except MemoryError as e:
                raise DataError(f"{where}: its arrays need more memory than is free ({e}); use a "
                                f"smaller file or a machine with more memory") from e
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DataError(f"{where} is corrupt or truncated ({type(e).__name__}: {e})") from e
    except DataError:
        raise
    except ValueError as e:  # an object array: numpy refuses pickles with allow_pickle=False
        raise DataError(f"{where} could not be read as plain arrays: {e}") from e
    except OSError as e:
        raise DataError(f"{where} is not a readable .npz file: {e}") from e


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _check_declared_size(f, key: str, where: str) -> None:
    """An array whose header declares more bytes than the archive holds for it is refused
    before numpy allocates them (a damaged header could ask for tens of GiB)."""
    name = f"{key}.npy"
    if name not in f.zip.namelist():
        return
    with f.zip.open(name) as member:
        version = np.lib.format.read_magic(member)
        if version not in _HEADER_READERS:
            return  # a newer format: numpy's own reader checks it
        shape, _, dtype = _HEADER_READERS[version](member)
        header = member.tell()
    if dtype.hasobject:
        return  # refused by np.load itself (allow_pickle=False)
    declared = math.prod(shape) * dtype.itemsize
    stored = f.zip.getinfo(name).file_size - header
    if declared > stored:
        raise DataError(f"{where}: {key} declares shape {shape} of {dtype} ({declared / 2**30:.1f} GiB) but the "
                        f"file holds {stored:,} bytes of it: the file is corrupt or truncated")


def _npz_labels(path: Path, xs: dict, ys: dict) -> tuple[dict, np.ndarray | None]:
    """Rows line up with the inputs; the labels themselves go through ``labels_to_rows``."""
    where = f"npz file {str(path)!r}"
    for p in PARTS:
        if xs[p].ndim == 0 or ys[p].ndim not in (1, 2):
            raise DataError(f"{where}: x_{p} must be (N, ...) and y_{p} (N,) or (N, C); got "
                            f"shapes {xs[p].shape} and {ys[p].shape}")
        if len(xs[p]) != len(ys[p]):
            raise DataError(f"{where}: x_{p} has {len(xs[p])} rows but y_{p} has {len(ys[p])}")
        if len(xs[p]) == 0:
            raise DataError(f"{where}: x_{p} is empty; every part needs at least one item")
    return labels_to_rows(ys, where)


def _npz_check_inputs(path: Path, xs: dict) -> str:
    where = f"npz file {str(path)!r}"
    shapes = {p: xs[p].shape[1:] for p in PARTS}
    if len(set(shapes.values())) != 1:
        raise DataError(f"{where}: item shapes differ between parts: {shapes}")
    ndim = xs["train"].ndim
    if ndim not in (2, 3, 4):
        raise DataError(f"{where}: x_train has shape {xs['train'].shape}; expected (N, D) "
                         f"features, (N, H, W) or (N, C, H, W) / (N, H, W, C) images")
    dtypes = {p: xs[p].dtype for p in PARTS}
    for p in PARTS:
        if xs[p].dtype.kind == "c":  # casting would drop the imaginary part silently
            raise DataError(f"{where}: x_{p} has complex dtype {xs[p].dtype}; expected real numbers "
                            f"(split real and imaginary parts into features yourself)")
        if not (np.issubdtype(xs[p].dtype, np.number) or xs[p].dtype == bool):
            raise DataError(f"{where}: x_{p} has dtype {xs[p].dtype}; expected numbers")
        if np.issubdtype(xs[p].dtype, np.floating) and not np.all(np.isfinite(xs[p])):
            raise DataError(f"{where}: x_{p} holds NaN or infinite values")
        top = float(np.abs(xs[p]).max()) if xs[p].size and ndim > 2 else 0.0
        if top > float(np.finfo(np.float32).max):  # images are cast to float32 as they are
            raise DataError(f"{where}: x_{p} holds values up to {top:.3g}, beyond float32's range (3.4e38) "
                            f"that the network computes in; rescale the images (e.g. to [0, 1])")
    if ndim > 2 and len({d == np.uint8 for d in dtypes.values()}) != 1:
        raise DataError(f"{where}: image dtypes differ between parts: {dtypes} (uint8 is "
                         f"scaled to [0, 1], other types are not: use one type)")
    return "features" if ndim == 2 else "images"


def _standardised(path: Path, xs: dict) -> dict:
    """Every part as float32, standardised with the training part's mean and std per column.
    Finite features near float64's limit (1e307) overflow the sums of the mean: those columns
    are first divided by their largest magnitude, which changes no standardised value
    (other data keep the plain formula, and so their numbers to the last bit)."""
    train = xs["train"].astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = train.mean(0), train.std(0)
    scale = np.ones_like(mean)
    huge = ~(np.isfinite(mean) & np.isfinite(std))
    if huge.any():
        scale[huge] = np.abs(train[:, huge]).max(0)
        train = train / scale
        mean, std = train.mean(0), train.std(0)
    std[std == 0] = 1.0  # a constant column: centre it, do not divide by zero
    out = {}
    for p, v in xs.items():
        with np.errstate(over="ignore", invalid="ignore"):
            z = ((v.astype(np.float64) / scale - mean) / std).astype(np.float32)
        if not np.isfinite(z).all():
            raise DataError(f"npz file {str(path)!r}: x_{p} holds values that are beyond float32's range "
                            f"(3.4e38) once standardised with x_train's mean and std: its scale is far from "
                            f"x_train's; rescale the features")
        out[p] = z
    return out


def _to_nchw(x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    x = np.ascontiguousarray(x)
    return x if x.dtype == np.uint8 else x.astype(np.float32)
