"""Image data sets from files: Fashion-MNIST (idx files), CIFAR-10 (torchvision's python
batches) and the field's list files (ImageNet-100, NUS-WIDE, MS-COCO, or your own).

``load_data`` in ``hashnet_lite.data`` dispatches here; this module imports torchvision lazily too, so
reading idx files needs only numpy. Nothing here downloads unless the files are missing
everywhere it looks, and then only through torchvision; offline, the error says which files
to put where (see data/README.md).
"""
from __future__ import annotations

import functools

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError
from .container import RetrievalData, check_unlabelled, iterate_features, split_arrays
from .augment import random_crop_flip  # noqa: F401 (re-exported: mosaic, tuning scripts)

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # dataset-fashion-mnist
FASHION_STEMS = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
               "data_batch_5", "test_batch", "batches.meta")
LIST_FILES = {"train": "train.txt", "query": "test.txt", "database": "database.txt"}

# idx type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, bottom)
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _why(e: BaseException, limit: int = 300) -> str:
    """An exception as one short line (torchvision's download errors span several)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


def _torchvision():
    try:
        import torchvision
    except ImportError as e:
        raise ImportError("this data set needs torchvision: pip install torchvision") from e
    return torchvision


# ---------------------------------------------------------------- idx files, Fashion-MNIST

def read_idx(path) -> np.ndarray:
    """An idx file (gzip-compressed or plain; told apart by content, not by name) as an
    array in native byte order. Header: two zero bytes, a type byte, the number of
    dimensions, then one big-endian uint32 per dimension; the data follow, big-endian."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # the gzip magic number
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"idx file {str(path)!r}: corrupt gzip data ({e})") from e
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise DataError(f"idx file {str(path)!r}: bad magic number {raw[:4].hex(' ')!r}; "
                        f"expected 00 00 <type in 08 09 0b 0c 0d 0e> <number of dimensions>")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"idx file {str(path)!r}: truncated header ({len(raw)} bytes, "
                        f"{ndim} dimensions need {header})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    need = math.prod(dims) * dtype.itemsize
    if len(raw) - header != need:
        raise DataError(f"idx file {str(path)!r}: dimensions {dims} need {need} bytes of "
                        f"data, the file holds {len(raw) - header}")
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=header)
    return data.reshape(dims).astype(dtype.newbyteorder("="))  # a writable native copy


def _fashion_files_in(folder: Path) -> dict | None:
    """The four idx files (plain or .gz) in ``folder``, or None if any is missing."""
    found = {}
    for key, stem in FASHION_STEMS.items():
        candidates = [folder / stem, folder / f"{stem}.gz"]
        found[key] = next((p for p in candidates if p.is_file()), None)
    return found if all(found.values()) else None


def _download_fashion_mnist(root: Path) -> None:
    """torchvision's download into ROOT/FashionMNIST/raw (tests replace this function)."""
    tv = _torchvision()
    for train in (True, False):
        tv.datasets.FashionMNIST(str(root), train=train, download=True)


def find_fashion_mnist(root: Path, explicit: bool) -> tuple[dict | None, list[Path]]:
    """Search order: an explicit ROOT only (the files the user named, or none: another copy
    would train under a spec that names files it never read); without ROOT the Debian
    location first, then the data root. Under a root: the files themselves,
    ``fashion-mnist/`` or torchvision's ``FashionMNIST/raw/``."""
    under_root = [root, root / "fashion-mnist", root / "FashionMNIST" / "raw"]
    folders = under_root if explicit else [DEBIAN_FASHION_MNIST_DIR] + under_root
    for folder in folders:
        files = _fashion_files_in(folder)
        if files:
            return files, folders
    return None, folders


FASHION_PADDING = 2  # pixels of zero padding the training crops are taken from


def fashion_mnist_arrays(arg: str | None, base: Path) -> tuple[dict, Path]:
    """The four Fashion-MNIST arrays (``train_images`` (60000, 28, 28) uint8, ``train_labels``,
    ``test_images``, ``test_labels``) and the folder they came from, checked."""
    root = Path(arg).expanduser() if arg else base
    files, looked = find_fashion_mnist(root, explicit=arg is not None)
    if files is None:
        try:
            _download_fashion_mnist(root)
        except (RuntimeError, OSError, ImportError) as e:
            names = ", ".join(f"{s}.gz" for s in FASHION_STEMS.values())
            missing = "" if root.exists() else f"; {str(root)!r} does not exist"
            raise FileNotFoundError(
                f"Fashion-MNIST not found (looked in {', '.join(map(str, looked))}{missing}) and "
                f"downloading it into {root / 'FashionMNIST' / 'raw'} failed ({_why(e)}). Get the files "
                f"with 'apt install dataset-fashion-mnist' (Debian/Ubuntu, installs them in "
                f"{DEBIAN_FASHION_MNIST_DIR}) or from https://github.com/zalandoresearch/"
                f"fashion-mnist and put {names} (gzip or plain) in {root / 'fashion-mnist'}; "
                f"see data/README.md") from e
        files, looked = find_fashion_mnist(root, explicit=True)
        if files is None:
            raise FileNotFoundError(f"Fashion-MNIST download into {root} left no idx files "
                                    f"in {', '.join(map(str, looked))}")
    parts = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        images, labels = parts[f"{split}_images"], parts[f"{split}_labels"]
        where = f"Fashion-MNIST files {str(files[f'{split}_images'])!r} / {str(files[f'{split}_labels'])!r}"
        if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1:
            raise DataError(f"{where}: expected (N, H, W) uint8 images and (N,) labels, got "
                            f"{images.shape} {images.dtype} and {labels.shape}")
        if len(images) != len(labels):
            raise DataError(f"{where}: {len(images)} images but {len(labels)} labels")
    if parts["train_images"].shape[1:] != parts["test_images"].shape[1:]:
        raise DataError(f"Fashion-MNIST train and t10k images differ in size: "
                        f"{parts['train_images'].shape[1:]} vs {parts['test_images'].shape[1:]}")
    return parts, files["train_images"].parent


def _per_class(protocol, n_train: int | None, n_query: int | None) -> tuple[int, int]:
    """(training items, queries) per class: the protocol's, unless given."""
    per_train, per_query = protocol.per_class
    return (per_train if n_train is None else n_train), (per_query if n_query is None else n_query)


def load_fashion_mnist(spec: str, arg: str | None, base: Path, *, seed: int = 0, protocol,
                       n_query: int | None = None, n_train: int | None = None) -> RetrievalData:
    """All 70,000 Fashion-MNIST images, split CIFAR-10-style (the protocol's 100 queries and
    500 training items per class unless given, database = every non-query item); images
    (1, 28, 28) kept as uint8."""
    n_train, n_query = _per_class(protocol, n_train, n_query)
    parts, folder = fashion_mnist_arrays(arg, base)
    x = torch.from_numpy(np.concatenate([parts["train_images"], parts["test_images"]]))
    y = np.concatenate([parts["train_labels"], parts["test_labels"]]).astype(np.int64)
    if y.min() < 0:
        raise DataError(f"Fashion-MNIST labels must be class ids >= 0, found {y.min()}")
    # Training items get a random 28x28 crop of the 2-pixel zero-padded image + a left-right
    # flip (TrainConfig.augment=False turns it off): with it, the preset's wider CNN and batch
    # 128 gave the best measured pair of seeds; at batch 64 it did not help
    # (tuning/README.md, "Fashion-MNIST preset trials").
    return split_arrays(spec, x.unsqueeze(1), y, seed=seed, n_query=n_query, n_train=n_train,
                        database="rest", topk=protocol.topk,
                        name=f"Fashion-MNIST from {folder}",
                        augment=functools.partial(random_crop_flip, padding=FASHION_PADDING))


# ---------------------------------------------------------------- CIFAR-10

def _download_cifar10(root: Path) -> None:
    """torchvision's download into ROOT/cifar-10-batches-py (tests replace this function)."""
    _torchvision().datasets.CIFAR10(str(root), train=True, download=True)


def load_cifar10(spec: str, root: Path, *, seed: int = 0, protocol, n_query: int | None = None,
                 n_train: int | None = None) -> RetrievalData:
    """All 60,000 CIFAR-10 images, the common protocol: 100 queries and 500 training items
    per class unless given, database = the other 54,000 (training items excluded)."""
    n_train, n_query = _per_class(protocol, n_train, n_query)
    tv = _torchvision()

    def read():
        return [tv.datasets.CIFAR10(str(root), train=t, download=False) for t in (True, False)]

    try:
        parts = read()  # torchvision md5-checks every batch file first
    except RuntimeError:
        try:
            _download_cifar10(root)
        except (RuntimeError, OSError) as e:
            folder = root / "cifar-10-batches-py"
            missing = [n for n in CIFAR_FILES if not (folder / n).is_file()]
            state = (f"missing {missing}" if missing else
                     "all present, but they fail torchvision's md5 check (not the original files)")
            raise FileNotFoundError(
                f"CIFAR-10 not usable in {folder}: {state}; downloading failed ({_why(e)})."
                f" Put the files {list(CIFAR_FILES)} of https://www.cs.toronto.edu/~kriz/"
                f"cifar-10-python.tar.gz there (tar xzf cifar-10-python.tar.gz -C {root}); "
                f"see data/README.md") from e
        parts = read()
    x = np.concatenate([p.data for p in parts]).transpose(0, 3, 1, 2)  # NHWC -> NCHW
    y = np.concatenate([np.asarray(p.targets, dtype=np.int64) for p in parts])
    return split_arrays(spec, torch.from_numpy(np.ascontiguousarray(x)), y, seed=seed,
                        n_query=n_query, n_train=n_train, database="rest_minus_train",
                        topk=protocol.topk, name=f"CIFAR-10 from {root}", augment=random_crop_flip)


# ---------------------------------------------------------------- list files

def read_list_file(list_file: Path, root: Path) -> tuple[list[Path], np.ndarray]:
    """``<image path> <0/1 labels>`` per line -> (paths, (N, C) uint8). Relative paths are
    resolved against ``root``; every image must exist (checked here, before any loading)."""
    if not list_file.is_file():
        raise FileNotFoundError(f"list file {str(list_file)!r} does not exist")
    paths, rows = [], []
    with open(list_file, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            tokens = line.split()
            if not tokens:
                continue  # blank lines
            where = f"list file {str(list_file)!r}, line {n}"
            if len(tokens) < 2:
                raise DataError(f"{where}: expected '<image path> <0/1 labels>', got {line.strip()!r}")
            bad = [t for t in tokens[1:] if t not in ("0", "1")]
            if bad:
                raise DataError(f"{where}: labels must be 0 or 1, found {bad[:5]} "
                                f"(paths containing spaces are not supported)")
            if rows and len(tokens) - 1 != len(rows[0]):
                raise DataError(f"{where}: {len(tokens) - 1} labels, but line 1 has {len(rows[0])}")
            path = Path(tokens[0]).expanduser()
            path = path if path.is_absolute() else root / path
            if not path.is_file():
                raise FileNotFoundError(f"{where}: image {tokens[0]!r} not found at {str(path)!r} "
                                        f"(relative paths are resolved against ROOT={str(root)!r})")
            paths.append(path)
            rows.append([int(t) for t in tokens[1:]])
    if not rows:
        raise DataError(f"list file {str(list_file)!r} holds no items")
    return paths, np.asarray(rows, dtype=np.uint8)


def image_transform(train: bool, resize: int = 256, crop: int = 224, flip: bool = True):
    """The field's transforms: resize to resize x resize, then a random crop + horizontal
    flip (training; ``flip=False``: the crop alone) or the centre crop (test); tensors in
    [0, 1], not normalised."""
    T = _torchvision().transforms
    if train:
        return T.Compose([T.Resize((resize, resize)), T.RandomCrop(crop),
                          *([T.RandomHorizontalFlip()] if flip else []), T.ToTensor()])
    return T.Compose([T.Resize((resize, resize)), T.CenterCrop(crop), T.ToTensor()])


class ImageListDataset(Dataset):
    """Images read with PIL (converted to RGB) from a list of paths, with (N, C) 0/1 labels.
    On a GPU the training loop and ``encode`` read the files through ``data.jpeg`` instead
    (decoded, resized and cropped on the device, the same transforms)."""

    def __init__(self, paths, labels, *, train: bool, resize: int = 256, crop: int = 224, flip: bool = True):
        if not (isinstance(crop, int) and isinstance(resize, int) and 1 <= crop <= resize):
            raise ValueError(f"crop={crop!r}, resize={resize!r}: expected integers with 1 <= crop <= resize "
                             f"(the crop is cut from the resized image)")
        self.paths, self.labels = list(paths), torch.as_tensor(np.asarray(labels, dtype=np.uint8))
        self.train, self.resize, self.crop, self.flip = train, resize, crop, train and flip
        self.transform = image_transform(train, resize, crop, flip)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image

        with Image.open(self.paths[i]) as image:
            x = self.transform(image.convert("RGB"))  # (3, crop, crop)
        return x, self.labels[i].float()

    def without_augmentation(self) -> "ImageListDataset":
        """The same images under the test-time transform (centre crop, no flip)."""
        return self if not self.train else ImageListDataset(
            self.paths, self.labels, train=False, resize=self.resize, crop=self.crop)

    def with_named_augmentation(self, name: str) -> "ImageListDataset":
        """The same images with the training transform ``name``: 'crop' (random crop) or
        'crop-flip' (random crop + flip, this data set's own)."""
        return ImageListDataset(self.paths, self.labels, train=True, resize=self.resize, crop=self.crop,
                                flip=name == "crop-flip")

    def features(self) -> np.ndarray:
        """(N, 3 * crop * crop) float32 under the test-time transform."""
        return iterate_features(self.without_augmentation())


def load_list_files(spec: str, root: Path, *, topk: int | None, name: str = "list",
                    resize: int = 256, crop: int = 224) -> RetrievalData:
    """``train.txt`` (training set), ``test.txt`` (queries) and ``database.txt`` under ROOT,
    used as given. Items whose label row is all zero are kept: they are relevant to no
    query (and, as queries, find nothing relevant); ``check_unlabelled`` counts them in a
    warning and refuses a file with no label at all."""
    if root.exists() and not root.is_dir():
        raise DataError(f"{name} data folder {str(root)!r} is a file; expected a folder holding "
                        f"{', '.join(LIST_FILES.values())} (see data/README.md)")
    if not root.is_dir():
        raise FileNotFoundError(f"{name} data folder {str(root)!r} does not exist; it should "
                                f"hold {', '.join(LIST_FILES.values())} (see data/README.md)")
    read = {part: read_list_file(root / fname, root) for part, fname in LIST_FILES.items()}
    widths = {LIST_FILES[p]: labels.shape[1] for p, (_, labels) in read.items()}
    if len(set(widths.values())) != 1:
        raise DataError(f"list files under {str(root)!r} disagree on the number of labels: {widths}")
    labels = {p: lab for p, (_, lab) in read.items()}
    check_unlabelled(labels, f"list files under {str(root)!r}", LIST_FILES)
    unlabeled = sum(int((lab.sum(1) == 0).sum()) for lab in labels.values())
    sizes = ", ".join(f"{LIST_FILES[p]} {len(lab):,} {role}" for p, lab, role in zip(
        LIST_FILES, labels.values(), ("training items", "queries", "database items")))
    protocol = (f"{name} list files under {root}: {sizes}, used as given (no split drawn, seed "
                f"unused); {widths['train.txt']} labels, {unlabeled} items with no label kept "
                f"(relevant to nothing); mAP@{'all' if topk is None else topk}.")
    return RetrievalData(
        spec=spec,
        train=ImageListDataset(read["train"][0], labels["train"], train=True, resize=resize, crop=crop),
        query=ImageListDataset(read["query"][0], labels["query"], train=False, resize=resize, crop=crop),
        database=ImageListDataset(read["database"][0], labels["database"], train=False,
                                  resize=resize, crop=crop),
        y_train=labels["train"], y_query=labels["query"], y_database=labels["database"],
        input_shape=(3, crop, crop), num_classes=widths["train.txt"], topk=topk, protocol=protocol)
