"""Every method this package trains or fits, in one registry.

HashNet and its three ablations (the paper's Sec. 4.3: HashNet-W, HashNet-sgn, HashNet+C),
HashNet-nobin (HashNet's continuous outputs ranked without binarization), the four deep baselines it was
published against or that came after it (``deep_baselines``), and the two shallow ones
(``baselines``). The CLI (``--method``, ``--methods``), ``experiments.reproduce`` and the
notebooks read the names from here.

A deep method is a ``TrainConfig``: ``method_config(name, config)`` turns the data set's
preset into that method's run. Every deep method trains the same backbone and hash layer
with the same optimiser, schedule of learning rates, data and step budget; only what turns
z into the output, the loss and (for HashNet) beta differ. All of them are encoded as
sign(z). HashNet-nobin is not trained: it ranks HashNet's continuous outputs tanh(beta z) by
inner product, the upper bound that the DHN paper calls "DHN-B" for its own method; the
HashNet paper has no such row, so the name is the package's own.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch

from .config import TrainConfig
from .deep_baselines import DEEP_BASELINES, baseline_loss, hash_centres
from .loss import pairwise_likelihood_loss


@dataclass(frozen=True)
class Method:
    """One row of the registry."""

    name: str
    kind: str  # "trained": a TrainConfig; "continuous": HashNet's outputs; "shallow": ITQ / LSH
    summary: str
    citation: str
    changes: tuple = ()  # (field, value) pairs applied to the preset's TrainConfig
    style: Mapping = dataclasses.field(default_factory=dict)  # matplotlib line style in the results figures


_HASHNET = "Cao, Long, Wang, Yu. HashNet: Deep Learning to Hash by Continuation. ICCV 2017."

def _style(**kw) -> Mapping:
    return MappingProxyType(kw)


REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("HashNet", "trained", "continuation + imbalance weights, binary codes", _HASHNET,
           style=_style(color="C3", marker="o")),
    Method("HashNet-W", "trained", "HashNet without the imbalance weights (w_ij = 1)", _HASHNET,
           (("weighting", "none"),), _style(color="C1", marker="s")),
    Method("HashNet-sgn", "trained", "HashNet without continuation (beta = beta0 throughout)", _HASHNET,
           (("schedule", "constant"),), _style(color="C2", marker="^")),
    Method("HashNet+C", "trained", "HashNet with Eq. 5's continuous similarity c_ij (multi-label data; "
           "equals HashNet on single-label data)", _HASHNET, (("continuous_similarity", True),),
           _style(color="C9", marker="d", linestyle=":")),
    Method("HashNet-nobin", "continuous", "HashNet, no binarization: its outputs tanh(beta z) ranked by "
           "inner product (an upper bound, not a hashing method)", _HASHNET,
           # HashNet's red, lighter: a bar shows no line style
           style=_style(color="lightcoral", marker="o", linestyle="--")),
    # The deep baselines: one record each in deep_baselines.DEEP_BASELINES. No continuation,
    # which schedule 'constant' records: the loop computes no beta for them, and their loss
    # applies their own activation to z (tanh for DHN and CSQ, none for DPSH and DSH).
    *(Method(b.name, "trained", b.summary, b.citation, (("method", b.name), ("schedule", "constant")), b.style)
      for b in DEEP_BASELINES.values()),
    Method("ITQ", "shallow", "PCA, then the rotation that best fits the binary cube",
           "Gong, Lazebnik. Iterative Quantization. CVPR 2011.", style=_style(color="C0", marker="D")),
    Method("LSH", "shallow", "signs of random projections",
           "Charikar. Similarity Estimation Techniques from Rounding Algorithms. STOC 2002.",
           style=_style(color="C7", marker="v")),
)}
NAMES = tuple(REGISTRY)
# What `reproduce` runs when no --methods are given (HashNet's ablation study).
DEFAULT_METHODS = ("HashNet", "HashNet-W", "HashNet-sgn", "HashNet+C", "HashNet-nobin", "ITQ", "LSH")


def check_methods(methods) -> tuple[str, ...]:
    """The names as a tuple, if every one is in the registry."""
    methods = tuple(methods)
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)!r}: unknown {unknown}; expected one or more of {list(NAMES)}")
    return methods


TUNED_FILE = Path(__file__).with_name("tuned.json")


def tuned(preset: str | None, bits: int | None = None) -> dict:
    """{method: its chosen settings} for ``preset``, from ``tuned.json`` (written by ``tune``:
    lr_scale, hash_lr_mult and the trade-off); {} where the methods were not tuned on it.
    ``by_bits`` entries replace a method's choice at one code length: where the chosen setting
    collapsed or diverged in the table there, the next-best setting of the same search (the
    file says why)."""
    if preset is None or not TUNED_FILE.is_file():
        return {}
    record = json.loads(TUNED_FILE.read_text())
    if record.get("preset") != preset:
        return {}
    return {**record.get("chosen", {}), **record.get("by_bits", {}).get(str(bits), {})}


def method_config(name: str, config: TrainConfig, *, preset: str | None = None) -> TrainConfig:
    """The training config of deep method ``name`` built from ``config`` (the preset's).

    The deep baselines train without continuation (beta fixed at beta0 = 1: DHN's and CSQ's
    tanh(z)) or on z itself (DPSH, DSH), with their own loss (``config.method``). With
    ``preset`` named, the settings ``tune`` chose for the method on that preset are applied
    (HashNet's to its ablations too). A field the method ignores, set away from its default,
    is refused naming the method (``TrainConfig``'s field metadata says which).
    """
    check_methods([name])
    method = REGISTRY[name]
    if method.kind == "shallow":
        raise ValueError(f"method={name!r} is not trained: expected one of "
                         f"{[m for m in NAMES if REGISTRY[m].kind != 'shallow']}")
    changes = {"method": "HashNet", **dict(method.changes)}
    # First the loss alone: the config then refuses an option of the caller's that this loss
    # ignores (config._field's used_by), before the method's own changes could hide it.
    cfg = dataclasses.replace(dataclasses.replace(config, method=changes["method"]), **changes)
    chosen = tuned(preset, config.bits).get(changes.get("method", "HashNet"))
    return _with_tuned(cfg, chosen) if chosen else cfg


def _with_tuned(config: TrainConfig, chosen: dict) -> TrainConfig:
    """``config`` with a method's chosen learning rate (a multiple of the preset's), hash-layer
    multiplier and trade-off (HashNet: alpha as a multiple of 10 / K)."""
    changes = dict(lr=config.lr * chosen["lr_scale"], hash_lr_mult=float(chosen["hash_lr_mult"]))
    if chosen["trade_off_field"] == "alpha_scale":
        if chosen["trade_off"] != 1.0:
            changes["alpha"] = chosen["trade_off"] * 10.0 / config.bits
    else:
        changes[chosen["trade_off_field"]] = float(chosen["trade_off"])
    return dataclasses.replace(config, **changes)


def loss_hyperparameters(config: TrainConfig) -> dict:
    """The loss's hyperparameters a run of ``config`` uses, as plain data for results rows:
    alpha and the weighting for HashNet, the paper's defaults (with the config's
    quantization_weight) for a deep baseline."""
    if config.method == "HashNet":
        return {"alpha": config.alpha_value, "weighting": config.weighting,
                "continuous_similarity": config.continuous_similarity}
    hyper = dict(DEEP_BASELINES[config.method].defaults)
    if config.quantization_weight is not None:
        hyper[DEEP_BASELINES[config.method].quantization_key] = config.quantization_weight
    return hyper


class Objective:
    """What one training step minimises for ``config.method``: call it with the network and
    a batch, it returns (the loss, the outputs whose distance to +-1 is logged)."""

    def __init__(self, config: TrainConfig, train_size: int | None = None):
        self.config = config
        self.train_size = train_size
        self.deep = DEEP_BASELINES.get(config.method)
        self.centres = None  # CSQ's (C, K) hash centres, made from the labels' width on first use
        self.hyper = {}
        if self.deep is not None and config.quantization_weight is not None:
            self.hyper[self.deep.quantization_key] = config.quantization_weight

    def outputs(self, net, x: torch.Tensor, beta: float | None) -> torch.Tensor:
        """The network's training output: tanh(beta z) for HashNet, z for the baselines (their
        loss applies their own activation, ``DeepBaseline.activate``)."""
        return net(x, beta) if self.deep is None else net(x, None)

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, h): h is the output the method pushes toward +-1 (tanh(z) or z)."""
        c = self.config
        if self.deep is None:
            return pairwise_likelihood_loss(out, labels, alpha=c.alpha_value, weighting=c.weighting,
                                            class_num=c.class_num,
                                            continuous_similarity=c.continuous_similarity), out
        if self.deep.needs_centres and self.centres is None:
            self.centres = hash_centres(labels.shape[1], c.bits, seed=c.seed)  # (C, K), fixed by the seed
        centres = None if self.centres is None else self.centres.to(out.device)
        hyper = dict(self.hyper)
        key = self.deep.per_item_key
        if key is not None and self.train_size:
            # DPSH's objective sums the likelihood over all N^2 pairs of the training set and the
            # penalty eta ||b_i - u_i||^2 over its N items: per item, eta against N pair terms.
            # dpsh_loss divides a batch's sums by its B(B-1) pairs, so eta (B - 1) / N keeps the
            # paper's balance (with eta = 10 unscaled, the penalty outweighed the pairs ~60x on
            # the digits and every item got the same code: mAP 0.10).
            hyper[key] = hyper.get(key, self.deep.defaults[key]) * (out.shape[0] - 1) / self.train_size
        return baseline_loss(c.method, out, labels, centres=centres, **hyper), self.deep.activate(out)
