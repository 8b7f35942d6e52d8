"""Each data set's hyperparameters and protocol, as the rest of the package reads them.

The records live in ``datasets.DATASETS`` (one per data set: spec, loader, protocol,
preset, shallow inputs); this module gives the tables derived from them, the two presets
chosen by the kind of inputs when a data set has none of its own (``features``, ``images``:
data brought with ``npz:`` or ``list:``), and the functions that make a ``TrainConfig``
from a preset (``preset_for``, ``preset_config``, ``shortened``).

A preset is a dict of ``TrainConfig`` fields; ``preset_config`` returns it with the
protocol's R (``topk``).
"""
from __future__ import annotations

import dataclasses

from .config import TrainConfig
from .datasets import DATASETS, Protocol  # noqa: F401 (Protocol: re-exported)

PROTOCOLS: dict[str, Protocol] = {kind: d.protocol for kind, d in DATASETS.items()}
SHALLOW_INPUTS: dict[str, str] = {kind: d.shallow_inputs for kind, d in DATASETS.items()}


def shallow_inputs(spec: str) -> str:
    """'pixels' or 'features': what ITQ and LSH are fitted on for data spec ``spec``."""
    return SHALLOW_INPUTS.get(str(spec).partition(":")[0].lower(), "pixels")


PRESETS: dict[str, dict] = {
    **{kind: d.preset for kind, d in DATASETS.items() if d.preset is not None},
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
