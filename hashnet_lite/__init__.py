"""hashnet_lite: HashNet (Cao, Long, Wang, Yu, "HashNet: Deep Learning to Hash by
Continuation", ICCV 2017) as a small, exact, tested package.

From any data set to codes to mAP::

    from hashnet_lite import load_data, preset_for, fit, encode, mean_average_precision
    data = load_data("fashion-mnist")                 # or "digits", "npz:my.npz", ...
    config, topk = preset_for(data, bits=32)
    model, history = fit(data, config)
    q, d = encode(model, data.query), encode(model, data.database)
    print(mean_average_precision(q, d, data.y_query, data.y_database, topk=topk))

Where to read: ARCHITECTURE.md at the top of the repository. The method is four small
modules: ``continuation`` (beta as a function of the step), ``loss`` (the weighted pairwise
likelihood), ``model`` (backbones and the hash layer) and ``train`` (the loop). The names
below are imported on first use, so ``import hashnet_lite`` is quick.
"""
from __future__ import annotations

import importlib
import os as _os
import sys as _sys

__version__ = "0.1.0"

# OpenMP threads that busy-wait (libgomp's default) starve each other on small machines:
# torch's and numba's (retrieval kernels) pools spinning alternately made a 40-step digits
# run 5-20x slower on 2 busy cores (0.8 s with PASSIVE vs 7.6-17.8 s). libgomp reads the
# variable once, when torch loads it, so the training entry points would be too late: the
# default is set here, at import, and only where it can still act (torch not yet loaded)
# and the user has not chosen a value.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# public name -> the module that defines it
_API = {
    "TrainConfig": "config",
    "HashNet": "model",
    "build_model": "model",
    "fit": "train",
    "encode": "train",
    "load_model": "checkpoint",
    "load_data": "data",
    "RetrievalData": "data",
    "preset_for": "presets",
    "preset_config": "presets",
    "shortened": "presets",
    "mean_average_precision": "retrieval",
    "average_precisions": "retrieval",
    "precision_within_radius": "retrieval",
    "HammingIndex": "retrieval",
    "ITQ": "baselines",
    "LSH": "baselines",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
