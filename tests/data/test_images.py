"""The image loaders (hashnet_lite.data.images) against small files the tests write in the
real formats (idx, CIFAR-10's python pickles, list files with PNG/JPEG images). Nothing here
touches the network: the two download steps are replaced by functions that raise URLError."""
from __future__ import annotations

import gzip
import os
import re
import pickle
import struct
import time
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from hashnet_lite.data import images as DI
from hashnet_lite.data import load_data
from hashnet_lite.errors import DataError
from hashnet_lite.presets import PROTOCOLS


def _offline(*args, **kwargs):
    raise URLError("[Errno -2] Name or service not known")


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch, tmp_path):
    """Every test runs offline and without the machine's Debian Fashion-MNIST files."""
    monkeypatch.setattr(DI, "_download_fashion_mnist", _offline)
    monkeypatch.setattr(DI, "_download_cifar10", _offline)
    monkeypatch.setattr(DI, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian-files")
    monkeypatch.delenv("HASHNET_LITE_DATA", raising=False)


def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    codes = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
    return path


FASHION_TRAIN, FASHION_TEST = 5500, 1000  # 650 per class: enough for 100 + 500 per class


def fashion_images(start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose first two pixels hold the item's index; label = index % 10."""
    ids = np.arange(start, start + n)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = ids % 256, ids // 256
    images[:, 27, 27] = 255
    return images, (ids % 10).astype(np.uint8)


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory) -> Path:
    """The four idx files: train gzip-compressed, t10k plain."""
    folder = tmp_path_factory.mktemp("fashion")
    images, labels = fashion_images(0, FASHION_TRAIN)
    write_idx(folder / "train-images-idx3-ubyte.gz", images, gz=True)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels, gz=True)
    images, labels = fashion_images(FASHION_TRAIN, FASHION_TEST)
    write_idx(folder / "t10k-images-idx3-ubyte", images, gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", labels, gz=False)
    return folder


def _ids(arrays: np.ndarray) -> np.ndarray:
    pixels = np.round(arrays * 255).astype(np.int64)
    return pixels[:, 0] + 256 * pixels[:, 1]


def test_read_idx_gz_and_plain(tmp_path):
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    assert np.array_equal(DI.read_idx(write_idx(tmp_path / "a.gz", a, gz=True)), a)
    f = np.linspace(-1, 1, 6, dtype=np.float32)
    out = DI.read_idx(write_idx(tmp_path / "f", f, gz=False))
    assert out.dtype == np.float32 and out.dtype.isnative and np.array_equal(out, f)


def test_read_idx_errors(tmp_path):
    good = write_idx(tmp_path / "good", np.zeros((2, 3), np.uint8), gz=False).read_bytes()
    cases = {
        "bad magic number": b"\x01\x00\x08\x02" + good[4:],
        "bad magic number ": b"\x00\x00\x07\x02" + good[4:],  # unknown type byte
        "truncated header": good[:6],
        "need 6 bytes of data, the file holds 5": good[:-1],
        "corrupt gzip": gzip.compress(good)[:-8],
    }
    for match, content in cases.items():
        (tmp_path / "bad").write_bytes(content)
        with pytest.raises(DataError, match=match.strip()):
            DI.read_idx(tmp_path / "bad")


def test_fashion_mnist_protocol_split(fashion_dir):
    d = load_data(f"fashion-mnist:{fashion_dir}", seed=0)
    n = FASHION_TRAIN + FASHION_TEST
    assert (len(d.train), len(d.query), len(d.database)) == (5000, 1000, n - 1000)
    assert d.input_shape == (1, 28, 28) and d.num_classes == 10 and d.topk is None
    assert d.y_query.sum(0).tolist() == [100] * 10 and d.y_train.sum(0).tolist() == [500] * 10
    q, db, tr = (_ids(d.arrays(p)) for p in ("query", "database", "train"))
    assert not set(q) & set(db) and set(tr) <= set(db) and len(set(q) | set(db)) == n
    assert np.array_equal(d.y_query.argmax(1), q % 10)  # labels stay with their images
    x, y = d.query[0]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28) and float(x.max()) == 1.0
    # training items are augmented (2-pixel padded crop, flip), queries and database are not
    torch.manual_seed(0)
    xs = torch.stack([d.train[0][0] for _ in range(20)])
    assert xs.shape == (20, 1, 28, 28) and len({t.numpy().tobytes() for t in xs}) > 1
    padded = np.pad(d.arrays("train")[0].reshape(28, 28), 2)  # every crop + flip of the item
    variants = {np.ascontiguousarray(v).tobytes() for oy in range(5) for ox in range(5)
                for v in (padded[oy:oy + 28, ox:ox + 28], padded[oy:oy + 28, ox:ox + 28][:, ::-1])}
    assert all(t[0].numpy().tobytes() in variants for t in xs)
    assert d.query.augment is None and d.database.augment is None
    assert d.train.without_augmentation().augment is None
    assert "seed=0" in d.protocol and str(fashion_dir) in d.protocol
    assert np.array_equal(_ids(load_data(f"fashion-mnist:{fashion_dir}", seed=0).arrays("query")), q)
    assert not np.array_equal(_ids(load_data(f"fashion-mnist:{fashion_dir}", seed=1).arrays("query")), q)


def test_fashion_mnist_layouts(fashion_dir, tmp_path, monkeypatch):
    def link_into(folder: Path):
        folder.mkdir(parents=True)
        for f in fashion_dir.iterdir():
            os.symlink(f, folder / f.name)

    link_into(tmp_path / "a" / "fashion-mnist")
    link_into(tmp_path / "b" / "FashionMNIST" / "raw")  # torchvision's layout
    link_into(tmp_path / "debian")
    for root in ("a", "b"):
        d = load_data(f"fashion-mnist:{tmp_path / root}")
        assert len(d.database) == 5500
        d = load_data("fashion-mnist", root=tmp_path / root)  # ROOT-less: the data root
        assert str(tmp_path / root) in d.protocol
    monkeypatch.setenv("HASHNET_LITE_DATA", str(tmp_path / "a"))
    assert str(tmp_path / "a") in load_data("fashion-mnist").protocol
    monkeypatch.setattr(DI, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian")
    assert str(tmp_path / "debian") in load_data("fashion-mnist").protocol  # Debian first
    assert str(tmp_path / "b") in load_data(f"fashion-mnist:{tmp_path / 'b'}").protocol  # ROOT first


@pytest.mark.parametrize("error", [URLError("[Errno -2] Name or service not known"),
                                   RuntimeError("Error downloading train-images-idx3-ubyte.gz:\n"
                                                "Tried http://mirror/, got:\n<urlopen error>")])
def test_fashion_mnist_offline_error_is_quick_and_helpful(tmp_path, monkeypatch, error):
    def offline(root):  # what torchvision raises offline: URLError, or RuntimeError per mirror
        raise error

    monkeypatch.setattr(DI, "_download_fashion_mnist", offline)
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        load_data(f"fashion-mnist:{tmp_path / 'empty'}")
    message = str(info.value)
    assert "apt install dataset-fashion-mnist" in message and type(error).__name__ in message
    assert "\n" not in message  # the download error folded into one line
    assert str(tmp_path / "empty") in message and "train-images-idx3-ubyte.gz" in message
    assert time.perf_counter() - start < 5  # no network wait: the download raised at once


def test_fashion_mnist_mismatched_counts(fashion_dir, tmp_path):
    for f in fashion_dir.iterdir():
        os.symlink(f, tmp_path / f.name)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(7, np.uint8), gz=False)
    with pytest.raises(DataError, match="1000 images but 7 labels"):
        load_data(f"fashion-mnist:{tmp_path}")


CIFAR_PER_BATCH = 1010  # 6 batches x 1010 = 6060 items, 606 per class


def write_cifar(root: Path) -> Path:
    """cifar-10-batches-py as in the real archive: pickled dicts, rows of 3072 bytes
    (1024 red, 1024 green, 1024 blue, each row-major 32x32). Red (0, 0)/(0, 1) hold the
    item's index, green is 100 everywhere, blue 200."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for b, name in enumerate(DI.CIFAR_FILES[:6]):
        ids = np.arange(b * CIFAR_PER_BATCH, (b + 1) * CIFAR_PER_BATCH)
        rows = np.zeros((len(ids), 3, 1024), dtype=np.uint8)
        rows[:, 0, 0], rows[:, 0, 1] = ids % 256, ids // 256
        rows[:, 1], rows[:, 2] = 100, 200
        entry = {"batch_label": name, "labels": (ids % 10).tolist(),
                 "data": rows.reshape(len(ids), 3072), "filenames": [f"{i}.png" for i in ids]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": 10000,
            "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


@pytest.fixture
def skip_md5(monkeypatch):
    """torchvision md5-checks the batch files against the real archive's; the files written
    here are the real format with other contents, so the check (and only it) is replaced by
    'the file exists' in torchvision's cifar module. Everything else is torchvision's code."""
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def test_cifar10_protocol_split(tmp_path, skip_md5):
    root = write_cifar(tmp_path / "c")
    d = load_data(f"cifar10:{root}", seed=0)
    n = 6 * CIFAR_PER_BATCH
    assert (len(d.train), len(d.query), len(d.database)) == (5000, 1000, n - 6000)
    assert d.input_shape == (3, 32, 32) and d.num_classes == 10 and d.topk is None
    assert d.y_query.sum(0).tolist() == [100] * 10 and d.y_train.sum(0).tolist() == [500] * 10
    q, db, tr = (_ids(d.arrays(p)) for p in ("query", "database", "train"))
    assert len(set(q) | set(db) | set(tr)) == n  # three disjoint parts covering everything
    assert np.array_equal(d.y_database.argmax(1), db % 10)
    x, _ = d.query[0]  # channels in the right order: NHWC -> NCHW
    assert torch.allclose(x[1], torch.tensor(100 / 255)) and torch.allclose(x[2], torch.tensor(200 / 255))
    assert "neither a query nor a training item" in d.protocol and "seed=0" in d.protocol
    # training items are augmented (crop with zero padding, flip), queries are not
    torch.manual_seed(0)
    xs = torch.stack([d.train[0][0] for _ in range(20)])
    assert xs.shape == (20, 3, 32, 32) and len({t.numpy().tobytes() for t in xs}) > 1
    assert np.array_equal(d.arrays("query"), d.arrays("query"))
    ids_again = _ids(load_data(f"cifar10:{root}", seed=0).arrays("query"))
    assert np.array_equal(ids_again, q)


def test_cifar10_rootless_uses_data_root(tmp_path, skip_md5):
    write_cifar(tmp_path / "cifar10")
    assert len(load_data("cifar10", root=tmp_path).query) == 1000


def test_cifar10_offline_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing .*data_batch_1.*URLError"):
        load_data(f"cifar10:{tmp_path}")
    write_cifar(tmp_path)  # real format, but not the original bytes: md5 fails
    with pytest.raises(FileNotFoundError, match="fail torchvision's md5 check"):
        load_data(f"cifar10:{tmp_path}")


def test_random_crop_flip_is_a_padded_crop():
    x = torch.rand(16, 3, 6, 5, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    out = DI.random_crop_flip(x, padding=2)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    kinds = set()
    for i in range(16):
        matches = [(oy, ox, flip) for oy in range(5) for ox in range(5) for flip in (0, 1)
                   if torch.equal(out[i], (padded[i, :, oy:oy + 6, ox:ox + 5].flip(-1) if flip
                                           else padded[i, :, oy:oy + 6, ox:ox + 5]))]
        assert matches, f"item {i} is no crop of its padded image"
        kinds.update(m[2] for m in matches)
    assert kinds == {0, 1}
    torch.manual_seed(0)
    assert torch.equal(DI.random_crop_flip(x, padding=2), out)


def write_list_data(root: Path) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    (root / "img").mkdir()
    rng = np.random.default_rng(0)
    specs = [("a.png", "RGB"), ("b.jpg", "RGB"), ("c.png", "L"), ("d.png", "RGBA"),
             ("e.png", "RGB"), ("f.jpg", "RGB")]
    for i, (name, mode) in enumerate(specs):
        array = rng.integers(0, 256, size=(20 + i, 30, 3), dtype=np.uint8)
        image = Image.fromarray(array)
        image = image.convert(mode)
        image.save(root / "img" / name)
    Image.new("RGB", (40, 40), (255, 0, 51)).save(root / "img" / "red.png")
    (root / "train.txt").write_text("img/a.png 1 0 1\nimg/b.jpg 0 1 0\n\nimg/c.png 0 0 0\n")
    (root / "test.txt").write_text(f"{root / 'img' / 'red.png'} 1 0 0\nimg/d.png 0 1 1\n")
    (root / "database.txt").write_text("img/e.png 1 0 0\r\nimg/f.jpg 0 0 1\r\nimg/a.png 1 0 1\r\n")
    return root


def test_list_files(tmp_path):
    root = write_list_data(tmp_path / "lists")
    d = load_data(f"list:{root}")
    assert (len(d.train), len(d.query), len(d.database)) == (3, 2, 3)
    assert d.input_shape == (3, 224, 224) and d.num_classes == 3 and d.topk is None
    assert d.y_train.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]  # all-zero row kept
    assert "1 items with no label kept" in d.protocol
    x, y = d.query[0]  # a uniform red image: every pixel (255, 0, 51) / 255, centre crop
    assert x.shape == (3, 224, 224) and y.tolist() == [1.0, 0.0, 0.0]
    assert torch.allclose(x, torch.tensor([1.0, 0.0, 0.2]).view(3, 1, 1).expand(3, 224, 224))
    for part in (d.train, d.query, d.database):
        for i in range(len(part)):
            xi, _ = part[i]  # grey, RGBA, JPEG: all 3-channel, in [0, 1]
            assert xi.shape == (3, 224, 224) and 0 <= xi.min() and xi.max() <= 1
    assert torch.equal(d.database[1][0], d.database[1][0])  # test-time: deterministic
    torch.manual_seed(0)
    assert len({d.train[0][0].numpy().tobytes() for _ in range(6)}) > 1  # random crop/flip
    # arrays: the test-time transform, also for the training images
    train = d.arrays("train")
    assert train.shape == (3, 3 * 224 * 224) and train.dtype == np.float32
    assert np.array_equal(train[0], d.database[2][0].numpy().ravel())  # img/a.png both times
    with pytest.raises(ValueError, match="part='test'"):
        d.arrays("test")


@pytest.mark.parametrize("kind, topk", [("imagenet100", 1000), ("nuswide", 5000), ("coco", 5000)])
def test_list_aliases_carry_the_protocols_r(tmp_path, kind, topk):
    root = write_list_data(tmp_path / kind)
    d = load_data(f"{kind}:{root}")
    assert PROTOCOLS[kind].topk == topk  # the loaders read R from the one protocol table
    assert d.topk == topk and f"mAP@{topk}" in d.protocol and len(d.database) == 3
    assert load_data(kind, root=tmp_path).topk == topk  # ROOT-less: <data root>/<kind>


def test_list_file_errors(tmp_path):
    root = write_list_data(tmp_path / "l")
    text = (root / "test.txt").read_text()
    cases = [
        ("img/missing.png 0 1 0\n", FileNotFoundError, r"test.txt', line 2: image 'img/missing.png'"),
        ("img/a.png 0 2 0\n", DataError, r"line 2: labels must be 0 or 1, found \['2'\]"),
        ("img/a.png 0 1\n", DataError, "line 2: 2 labels, but line 1 has 3"),
        ("img/a.png\n", DataError, "line 2: expected '<image path> <0/1 labels>'"),
    ]
    for line, error, match in cases:
        (root / "test.txt").write_text(text.splitlines()[0] + "\n" + line)
        with pytest.raises(error, match=match):
            load_data(f"list:{root}")
    (root / "test.txt").write_text("img/a.png 0 1 0 1\n")
    with pytest.raises(DataError, match="disagree on the number of labels") as info:
        load_data(f"list:{root}")
    assert isinstance(info.value, ValueError)  # callers catching ValueError keep working
    (root / "test.txt").unlink()
    with pytest.raises(FileNotFoundError, match="test.txt' does not exist"):
        load_data(f"list:{root}")
    with pytest.raises(FileNotFoundError, match="does not exist; it should hold train.txt"):
        load_data(f"list:{tmp_path / 'nowhere'}")


def test_list_files_take_a_named_augmentation(tmp_path):
    from hashnet_lite.config import TrainConfig
    from hashnet_lite.data.augment import for_training as training_dataset

    d = load_data(f"list:{write_list_data(tmp_path / 'lists')}")
    crop = training_dataset(d.train, TrainConfig(augment="crop"))
    flips = [t for t in crop.transform.transforms if "Flip" in type(t).__name__]
    assert crop.train and not flips  # a random crop, never a mirror
    both = training_dataset(d.train, TrainConfig(augment="crop-flip"))
    assert any("Flip" in type(t).__name__ for t in both.transform.transforms)
    assert training_dataset(d.train, TrainConfig(augment=True)) is d.train
    assert not training_dataset(d.train, TrainConfig(augment=False)).train


def test_explicit_fashion_mnist_root_never_falls_back(fashion_dir, tmp_path, monkeypatch):
    """fashion-mnist:/nonexistent is refused, not served from the Debian copy under a spec
    naming a folder it never read."""
    debian = tmp_path / "debian"
    debian.mkdir()
    for f in fashion_dir.iterdir():
        os.symlink(f, debian / f.name)
    monkeypatch.setattr(DI, "DEBIAN_FASHION_MNIST_DIR", debian)
    assert str(debian) in load_data("fashion-mnist").protocol  # without ROOT: the Debian copy
    missing = tmp_path / "nonexistent"
    with pytest.raises(FileNotFoundError, match=rf"{re.escape(repr(str(missing)))} does not exist") as info:
        load_data(f"fashion-mnist:{missing}")
    assert f"looked in {missing}," in str(info.value) and str(debian) + "," not in str(info.value)
