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
- ``fashion-mosaic[:ROOT]``: multi-label 2x2 mosaics of Fashion-MNIST images (28x28, labels the
  union of the four classes); 5,000 training, 1,000 query, 20,000 database mosaics; mAP@5000.
- ``cifar10[:ROOT]``: the 60,000 CIFAR-10 images; 100 queries and 500 training items per
  class, database = the other 54,000 (training items excluded). Images (3, 32, 32), random
  crop (padding 4) + horizontal flip at training time.
- ``list:ROOT``, ``imagenet100[:ROOT]`` (R = 1000), ``nuswide[:ROOT]`` (R = 5000),
  ``coco[:ROOT]`` (R = 5000): the field's list files ``train.txt``, ``test.txt``,
  ``database.txt`` under ROOT. Images (3, 224, 224).
- ``npz:PATH``: your own arrays (see ``load_npz``).

Splits are drawn with ``np.random.default_rng(seed)``: the same seed gives the same split.
A spec without ROOT looks under ``default_data_root()`` (``$HASHNET_LITE_DATA``, else the
repository's ``data/`` folder).

Modules: ``container`` (RetrievalData, ArrayDataset, the seeded per-class split), ``digits``,
``npz``, ``images`` (Fashion-MNIST, CIFAR-10, list files; it imports torchvision, which takes
seconds, so it is imported only when one of those is asked for), ``mosaic`` (multi-label
Fashion-MNIST mosaics) and ``synthetic``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..datasets import DATASETS
from .container import PARTS, ArrayDataset, RetrievalData, iterate_features, one_hot, split_arrays, split_per_class
from .npz import NPZ_KEYS, load_npz

# kind -> (argument: "none" | "optional" | "required", the form shown in error messages),
# from each data set's record (datasets.DATASETS).
SPEC_FORMS = {kind: (d.argument, d.form) for kind, d in DATASETS.items()}


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
    return Path(__file__).resolve().parents[2] / "data"


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
    return DATASETS[kind].load(spec, arg, base, seed)


__all__ = [
    "NPZ_KEYS", "PARTS", "SPEC_FORMS", "ArrayDataset", "RetrievalData", "default_data_root", "iterate_features",
    "load_data", "load_npz", "one_hot", "parse_data_spec", "split_arrays", "split_per_class",
]
