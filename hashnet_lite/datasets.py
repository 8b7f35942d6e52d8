"""Every data set the package knows, one record each: how its spec is written, how it is
loaded, its protocol (split sizes, R of mAP@R, what the paper published), its preset
(``TrainConfig`` fields) and what ITQ and LSH are fitted on.

``data.load_data`` and ``data.parse_data_spec`` read the spec forms and loaders,
``presets`` the presets, protocols and shallow inputs, the CLI's help the presets' values,
``report`` and the lessons the protocols. A new data set is a loader module in ``data/``
and one ``DataSet`` entry here.

The published numbers: Cao, Long, Wang, Yu, "HashNet: Deep Learning to Hash by
Continuation", ICCV 2017, Sec. 4 and Table 1 (CIFAR-10 as the public re-implementations
run it). The paper's data sets fine-tune an ImageNet-pretrained AlexNet with the authors'
schedules (not their exact optimisation: docs/fidelity.md): SGD lr 3e-4 (hash layer x10),
lr halved every 2,000 of 10,000 iterations, beta from the authors' schedule; ``class_num``
is the authors' Caffe value, used when ``weighting="class_num"`` is chosen.

The data sets that train from scratch on a CPU (the shipped digits, Fashion-MNIST and its
mosaics) use a small backbone and a faster continuation (gamma, step_size) so that beta
still climbs in a short run (to 3.5 on the digits, 12.2 on Fashion-MNIST); their numbers
were tuned on the project's own runs (docs/results.md, tuning/README.md).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Protocol:
    """How one data set is split and scored, and what the paper reported on it."""

    dataset: str  # the name a reader knows it by
    labels: str
    train: str  # sizes as the protocol states them
    queries: str
    database: str
    topk: int | None  # R of mAP@R; None: the whole database (mAP@all)
    published: dict | None = None  # HashNet (AlexNet) mAP by bits, paper Table 1
    reimplementations_48: float | None = None  # mAP at 48 bits reported by re-implementations
    in_paper: bool = False
    # The seeded split the loader draws: (training items, queries) per class; None where the
    # files or the user's arrays fix the split.
    per_class: tuple[int, int] | None = None


@dataclass(frozen=True)
class DataSet:
    """One data set: its spec, loader, protocol, preset and shallow inputs."""

    kind: str  # the spec's first word
    argument: str  # "none" | "optional" | "required": what may follow "kind:"
    form: str  # the spec's form in help and errors
    # load(spec, argument or None, data root, seed) -> RetrievalData; it imports its module
    # when called (images.py imports torchvision, which takes seconds).
    load: Callable
    protocol: Protocol
    preset: dict | None  # TrainConfig fields; None: by the input shape ("features" / "images")
    shallow_inputs: str = "pixels"


def _digits(spec, arg, base, seed):
    from .data.digits import load_digits_data

    return load_digits_data(spec, seed=seed, protocol=DATASETS['digits'].protocol)


def _npz(spec, arg, base, seed):
    from .data.npz import load_npz

    return load_npz(arg, spec=spec)


def _fashion_mnist(spec, arg, base, seed):
    from .data.images import load_fashion_mnist

    return load_fashion_mnist(spec, arg, base, seed=seed, protocol=DATASETS['fashion-mnist'].protocol)


def _fashion_mosaic(spec, arg, base, seed):
    from .data.mosaic import load_fashion_mosaic

    return load_fashion_mosaic(spec, arg, base, seed=seed, protocol=DATASETS['fashion-mosaic'].protocol)


def _cifar10(spec, arg, base, seed):
    from .data.images import load_cifar10

    return load_cifar10(spec, Path(arg).expanduser() if arg else base / "cifar10", seed=seed,
                        protocol=DATASETS["cifar10"].protocol)


def _list_files(spec, arg, base, seed):
    from .data.images import load_list_files

    kind = spec.partition(":")[0].lower()
    folder = Path(arg).expanduser() if arg else base / kind
    return load_list_files(spec, folder, topk=DATASETS[kind].protocol.topk, name=kind)


_PAPER = dict(backbone="alexnet", pretrained=True, iters=10_000, batch_size=64, lr=3e-4,
              lr_step=2000, lr_decay=0.5, schedule="authors", gamma=0.005, power=0.5, step_size=200)

# shallow_inputs, what ITQ and LSH are fitted on. "pixels": the flattened inputs, held in
# memory at once: cheap for the small images here (Fashion-MNIST's 69,000-item database is
# 216 MB of floats). "features": backbone features computed a batch at a time
# (shallow.shallow_codes): the fc7 of an ImageNet-pretrained AlexNet when its weights file is
# on disk (the paper's DeCAF7 inputs), else this run's trained HashNet backbone. List files
# need it: their 3x224x224 pixels would be ~19 GB of floats for ImageNet-100's 128,503-item
# database.
DATASETS: dict[str, DataSet] = {d.kind: d for d in (
    # 500 training images of 8x8 digits: 600 steps of the small CNN, < 30 s on 2 cores.
    DataSet("digits", "none", "digits", _digits,
            Protocol("digits (scikit-learn)", "10 classes, single label", "500 (50/class)", "180 (18/class)",
                     "1,617 (every non-query item)", None, per_class=(50, 18)),
            dict(backbone="cnn", iters=600, batch_size=64, lr=0.003, lr_step=2000, gamma=0.02, step_size=50)),
    # 5,000 training images of 28x28 (crop + flip + erasing, on the training device): the
    # small CNN at width 32 (32-64-128-128, a second conv at 7x7: convs=4) with a 1024-wide
    # feature layer, batch 128, 5,000 steps, lr halved every 1,100. Each choice is the best of
    # the seeded trials in tuning/README.md (32 bits, CPU): a 1024-wide feature layer, random
    # erasing with p = 0.7 and convs=4 each raised mAP at every seed tried (by 0.4 to 1.2 points).
    # channels_last because oneDNN's kernels take a step from 43 to 27 ms on 2 cores
    # (benchmarks/README.md), at no loss beyond the seeds' spread. HashNet's alpha here is
    # the search's choice (hashnet_lite/tuned.json).
    DataSet("fashion-mnist", "optional", "fashion-mnist[:ROOT]", _fashion_mnist,
            Protocol("Fashion-MNIST", "10 classes, single label", "5,000 (500/class)", "1,000 (100/class)",
                     "69,000 (every non-query item)", None, per_class=(500, 100)),
            dict(backbone="cnn", width=32, hidden=1024, convs=4, iters=5000, batch_size=128,
                 lr=0.03, lr_step=1100, gamma=0.05, step_size=50, channels_last=True, erase=0.7)),
    # 2x2 mosaics of Fashion-MNIST (28x28, multi-label; data/README.md): the small CNN (16-32-64)
    # and a short schedule, 1-2 min per model on 2 cores, so that the multi-label comparison of
    # many methods and seeds fits a CPU session. Not tuned.
    DataSet("fashion-mosaic", "optional", "fashion-mosaic[:ROOT]", _fashion_mosaic,
            Protocol("Fashion-MNIST 2x2 mosaics (multi-label)", "10 classes, multi-label (union of 4)",
                     "5,000", "1,000 (test images)", "20,000 (training images)", 5000),
            dict(backbone="cnn", iters=1500, batch_size=64, lr=0.01, lr_step=1000, gamma=0.02, step_size=50)),
    DataSet("cifar10", "optional", "cifar10[:ROOT]", _cifar10,
            Protocol("CIFAR-10 (common variant, not in the paper)", "10 classes, single label",
                     "5,000 (500/class)", "1,000 (100/class)", "54,000", None, None, 0.78, per_class=(500, 100)),
            dict(_PAPER, class_num=1.0)),
    DataSet("imagenet100", "optional", "imagenet100[:ROOT]", _list_files,
            Protocol("ImageNet-100", "100 classes, single label", "13,000 (130/class)", "5,000", "128,503", 1000,
                     {16: 0.5059, 32: 0.6306, 48: 0.6633, 64: 0.6835}, 0.64, True),
            dict(_PAPER, class_num=100.0), "features"),
    DataSet("nuswide", "optional", "nuswide[:ROOT]", _list_files,
            Protocol("NUS-WIDE (21 or 81 concepts)", "multi-label", "10,000", "5,000", "~150k-190k", 5000,
                     {16: 0.6623, 32: 0.6988, 48: 0.7114, 64: 0.7163}, 0.76, True),
            dict(_PAPER, class_num=5.0), "features"),
    DataSet("coco", "optional", "coco[:ROOT]", _list_files,
            Protocol("MS-COCO", "80 categories, multi-label", "10,000", "5,000", "~112k-122k", 5000,
                     {16: 0.6873, 32: 0.7184, 48: 0.7301, 64: 0.7362}, 0.72, True),
            dict(_PAPER, class_num=1.0), "features"),
    # Data brought by the user: arrays (npz:) or list files (list:); the preset follows the inputs.
    DataSet("npz", "required", "npz:PATH", _npz,
            Protocol("your arrays (npz:)", "class ids or multi-hot", "as given", "as given", "as given", None), None),
    DataSet("list", "required", "list:ROOT", _list_files,
            Protocol("your list files (list:)", "multi-hot", "train.txt", "test.txt", "database.txt", None), None,
            "features"),
)}
