"""Each data set's protocol and hyperparameters: the one table every other place reads.

``PROTOCOLS`` holds, per data set, the split sizes, R of mAP@R and the mAP the paper
published (Cao, Long, Wang, Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017,
Sec. 4 and Table 1; CIFAR-10 as the public re-implementations run it). The loaders take R
from it, results.md quotes its published numbers, and notebook 06 prints it.

A preset is a dict of ``TrainConfig`` fields; ``preset_config`` returns it with the protocol's R (``topk``). The
paper's data sets (ImageNet-100, NUS-WIDE, MS-COCO, and CIFAR-10 as re-implementations
run it) fine-tune an ImageNet-pretrained AlexNet with the authors' schedules (not their exact
optimisation: docs/fidelity.md):
SGD lr 3e-4 (hash layer x10), lr halved every 2,000 of 10,000 iterations, beta from
the authors' schedule. ``class_num`` is the authors' Caffe value, used when
``weighting="class_num"`` is chosen; the default weighting is the paper's Eq. 5.

The data sets that train from scratch on a CPU (shipped digits, Fashion-MNIST, and
arrays brought with ``npz:``) use a small backbone and a faster continuation
(gamma, step_size) so that beta still climbs in a short run (to 3.5 on the digits, 12.2 on
Fashion-MNIST); their numbers were tuned on the project's own runs (see docs/results.md and
tuning/README.md).
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass

from .config import TrainConfig


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


PROTOCOLS: dict[str, Protocol] = {
    "imagenet100": Protocol("ImageNet-100", "100 classes, single label", "13,000 (130/class)", "5,000",
                            "128,503", 1000, {16: 0.5059, 32: 0.6306, 48: 0.6633, 64: 0.6835}, 0.64, True),
    "nuswide": Protocol("NUS-WIDE (21 or 81 concepts)", "multi-label", "10,000", "5,000", "~150k-190k", 5000,
                        {16: 0.6623, 32: 0.6988, 48: 0.7114, 64: 0.7163}, 0.76, True),
    "coco": Protocol("MS-COCO", "80 categories, multi-label", "10,000", "5,000", "~112k-122k", 5000,
                     {16: 0.6873, 32: 0.7184, 48: 0.7301, 64: 0.7362}, 0.72, True),
    "cifar10": Protocol("CIFAR-10 (common variant, not in the paper)", "10 classes, single label",
                        "5,000 (500/class)", "1,000 (100/class)", "54,000", None, None, 0.78),
    # The project's own offline data sets and data brought by the user.
    "digits": Protocol("digits (scikit-learn)", "10 classes, single label", "500 (50/class)",
                       "180 (18/class)", "1,617 (every non-query item)", None),
    "fashion-mnist": Protocol("Fashion-MNIST", "10 classes, single label", "5,000 (500/class)",
                              "1,000 (100/class)", "69,000 (every non-query item)", None),
    "fashion-mosaic": Protocol("Fashion-MNIST 2x2 mosaics (multi-label)", "10 classes, multi-label (union of 4)",
                               "5,000", "1,000 (test images)", "20,000 (training images)", 5000),
    "npz": Protocol("your arrays (npz:)", "class ids or multi-hot", "as given", "as given", "as given", None),
    "list": Protocol("your list files (list:)", "multi-hot", "train.txt", "test.txt", "database.txt", None),
}

# What ITQ and LSH are fitted on, per data set (the kind of its data spec; kinds not listed:
# pixels). "pixels": the flattened inputs, held in memory at once: cheap for the small images
# here (Fashion-MNIST's 69,000-item database is 216 MB of floats). "features": backbone
# features computed a batch at a time (shallow.shallow_codes): the fc7 of an
# ImageNet-pretrained AlexNet when its weights file is on disk (the paper's DeCAF7 inputs),
# else this run's trained HashNet backbone. List files need it: their 3x224x224 pixels would
# be ~19 GB of floats for ImageNet-100's 128,503-item database.
SHALLOW_INPUTS: dict[str, str] = {
    "digits": "pixels", "fashion-mnist": "pixels", "fashion-mosaic": "pixels", "cifar10": "pixels",
    "npz": "pixels", "synthetic": "pixels",
    "imagenet100": "features", "nuswide": "features", "coco": "features", "list": "features",
}


def shallow_inputs(spec: str) -> str:
    """'pixels' or 'features': what ITQ and LSH are fitted on for data spec ``spec``."""
    return SHALLOW_INPUTS.get(str(spec).partition(":")[0].lower(), "pixels")


_PAPER = dict(backbone="alexnet", pretrained=True, iters=10_000, batch_size=64, lr=3e-4,
              lr_step=2000, lr_decay=0.5, schedule="authors", gamma=0.005, power=0.5, step_size=200)

PRESETS: dict[str, dict] = {
    # 500 training images of 8x8 digits: 600 steps of the small CNN, < 30 s on 2 cores.
    "digits": dict(backbone="cnn", iters=600, batch_size=64, lr=0.003, lr_step=2000,
                   gamma=0.02, step_size=50),
    # 5,000 training images of 28x28 (crop + flip + erasing, on the training device): the
    # small CNN at width 32 (32-64-128-128, a second conv at 7x7: convs=4) with a 1024-wide
    # feature layer, batch 128, 5,000 steps, lr halved every 1,100. Each choice is the best of
    # the seeded trials in tuning/README.md (32 bits, CPU): a 1024-wide feature layer, random
    # erasing with p = 0.7 and convs=4 each raised mAP at every seed tried (by 0.4 to 1.2 points).
    # channels_last because oneDNN's kernels take a step from 43 to 27 ms on 2 cores
    # (benchmarks/README.md), at no loss beyond the seeds' spread. HashNet's alpha here is
    # the search's choice (hashnet_lite/tuned.json).
    "fashion-mnist": dict(backbone="cnn", width=32, hidden=1024, convs=4, iters=5000, batch_size=128,
                          lr=0.03, lr_step=1100, gamma=0.05, step_size=50, channels_last=True, erase=0.7),
    # 2x2 mosaics of Fashion-MNIST (28x28, multi-label; data/README.md): the small CNN (16-32-64)
    # and a short schedule, 1-2 min per model on 2 cores, so that the multi-label comparison of
    # many methods and seeds fits a CPU session. Not tuned.
    "fashion-mosaic": dict(backbone="cnn", iters=1500, batch_size=64, lr=0.01, lr_step=1000,
                           gamma=0.02, step_size=50),
    "cifar10": dict(_PAPER, class_num=1.0),
    "imagenet100": dict(_PAPER, class_num=100.0),
    "nuswide": dict(_PAPER, class_num=5.0),
    "coco": dict(_PAPER, class_num=1.0),
    # Data brought as arrays (npz:) or list files (list:): feature vectors -> MLP, images -> CNN.
    "features": dict(backbone="mlp", iters=1500, batch_size=64, lr=0.01, lr_step=1000,
                     gamma=0.02, step_size=50),
    # Images of any kind (npz:): the small CNN at width 32 with a 512-wide feature layer and
    # 3,000 steps, and the augmentation that is safe for any images, a crop of a few pixels,
    # no flip (mirrored digits or text are other symbols). On Fashion-MNIST through npz: it
    # gave 0.835/0.828 at 32 bits, seeds 0/1, against 0.768 for the 16-32-64 net with 1,500
    # steps and no augmentation (tuning/README.md).
    "images": dict(backbone="cnn", width=32, iters=3000, batch_size=128, lr=0.03, lr_step=700,
                   gamma=0.05, step_size=50, augment="crop"),
}


def preset_name(kind: str, input_shape: tuple[int, ...]) -> str:
    """The preset for a data-spec kind ('digits', 'npz', ...) and the data's input shape."""
    if kind in PRESETS:
        return kind
    return "features" if len(input_shape) == 1 else "images"


def preset_for(data, *, bits: int | None = None, **overrides) -> tuple[TrainConfig, int | None]:
    """(config, topk) for a loaded data set: the preset its spec and input shape select.

    ``data`` is anything with ``spec`` and ``input_shape`` (a ``RetrievalData``); ``bits``
    and ``overrides`` (TrainConfig fields) replace the preset's values.
    """
    for name in ("spec", "input_shape"):
        if not hasattr(data, name):
            raise TypeError(f"data={type(data).__name__} has no {name!r}: expected a loaded data set "
                            "(hashnet_lite.load_data(spec))")
    kind = str(data.spec).partition(":")[0].lower()
    return preset_config(preset_name(kind, tuple(data.input_shape)), bits=bits, **overrides)


def shortened(config: TrainConfig, iters: int) -> TrainConfig:
    """``config`` with ``iters`` steps and its beta and learning-rate schedules compressed to fit.

    Cutting ``iters`` alone would stop the continuation early (beta would barely leave
    beta0) and never decay the learning rate, so every schedule is rescaled by
    r = iters_old / iters_new:

        beta  = beta0 * (1 + gamma * t) ** power   with gamma -> gamma * r, step_size -> step_size / r
        lr    = lr * lr_decay ** (t // lr_step)   with lr_step -> lr_step / r

    so that at the same fraction of training beta and the learning rate are (up to rounding
    of the step sizes) what the full run has. The per-epoch "staircase" schedule is rescaled
    through ``epoch_step``. The lessons use it for their smoke mode.
    """
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters={iters!r} is invalid: expected an integer >= 1")
    r = config.iters / iters
    return dataclasses.replace(
        config, iters=iters, gamma=config.gamma * r,
        step_size=max(1, round(config.step_size / r)), lr_step=max(1, round(config.lr_step / r)),
        epoch_step=max(1, round(config.epoch_step / r)))


def preset_config(name: str, **overrides) -> tuple[TrainConfig, int | None]:
    """(config, topk) of a preset; ``overrides`` (TrainConfig fields, None = keep) win."""
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is unknown: expected one of {sorted(PRESETS)}")
    fields = dict(PRESETS[name])
    topk = PROTOCOLS[name].topk if name in PROTOCOLS else None
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown config fields {unknown}; expected a subset of {sorted(known)}")
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**fields), topk
