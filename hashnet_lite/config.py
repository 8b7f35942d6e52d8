"""One frozen configuration for a training run: the method's parameters and how the run is
executed, each field declaring once what it means for the run.

Variants are made with ``dataclasses.replace(config, field=value)``; nothing mutates a
config at run time. ``to_dict`` / ``from_dict`` turn it into plain data for checkpoints and
result files; ``from_dict`` also reads the forms older files wrote.

Each field's metadata (``_field``) says:

- ``identity``: it decides the numbers a run gives. Identity fields enter a study's run key
  (``result_rows.run_key``), are compared when a checkpoint is resumed, and against a
  results row's config. The others (device, workers, logging, checkpoint cadence) only
  decide how a run is executed.
- ``resumable``: a resume may change it. Every field outside the identity, and ``iters``
  (a run is continued to more steps, never cut back).
- ``late``: added after results were recorded. At its default it is left out of run keys,
  so that rows made before it existed keep their keys.
- ``used_by``: the one kind of loss that reads it, "HashNet" or "baselines". Set away from
  its default for the other kind, it is refused naming the method, so that such an option
  cannot enter a run key. The schedule's shape (beta0, gamma, power, step_size, epoch_step)
  and ``class_num`` are HashNet's too, but every method's preset shares them, so they are
  not marked: a baseline's schedule is 'constant' and its loop computes no beta.

``RESUMABLE_FIELDS``, ``LATE_FIELDS`` and ``IDENTITY_FIELDS`` are derived from it.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

from .checks import check as _check

SCHEDULES = ("authors", "staircase", "constant")
WEIGHTINGS = ("paper", "class_num", "none")
BACKBONES = ("auto", "mlp", "cnn", "alexnet", "resnet18", "resnet50", "vgg16")
AUGMENTATIONS = ("crop", "crop-flip")  # what ``augment`` may name (data/augment.py)
PRECISIONS = ("fp32", "bf16", "fp16")  # the forward pass's arithmetic on CUDA (the CPU computes in fp32)
# torch.compile's modes (TrainConfig.compile may name one; True is "default").
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# Bounds that turn a typo into a clear refusal, not a huge allocation or an overflow deep in
# torch: codes of 4,096 bits are far beyond what hashing uses (16-128), and torch.manual_seed
# takes a signed 64-bit seed.
MAX_BITS = 4096
MAX_SEED = 2**63 - 1


def _field(default, *, identity: bool = True, resumable: bool = False, late: bool = False,
           used_by: str | None = None, also: tuple = ()):
    """A TrainConfig field with what it means for a run (the module's docstring). ``also``:
    values besides the default that the other kind of loss may hold (a baseline's schedule is
    'constant': it has no continuation)."""
    meta = {"identity": identity, "resumable": resumable or not identity, "late": late, "used_by": used_by,
            "also": also}
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (defaults: the authors' choices)."""

    # --- The network -------------------------------------------------------------------
    bits: int = _field(32)
    backbone: str = _field("auto")  # 'auto': mlp for feature vectors, cnn for images
    pretrained: bool = _field(False)  # torchvision ImageNet weights for alexnet/resnet*/vgg16
    hidden: int = _field(512)  # the mlp/cnn backbones' feature width
    width: int = _field(16)  # the cnn backbone's first conv channels (then 2x, 4x)
    convs: int = _field(3, late=True)  # the cnn backbone's conv layers, 3-6 (extra ones at the smallest size)
    dropout: float = _field(0.2)  # of the mlp/cnn backbones (0 makes DDP match one process)

    # --- The data's augmentation --------------------------------------------------------
    # True: the data set's own (crop + flip for fashion-mnist, cifar10 and image lists; none
    # for digits and npz); False: none; 'crop' or 'crop-flip': that one on any image data
    # (flips are not safe for every data set).
    augment: bool | str = _field(True)
    # Random erasing (Zhong et al., AAAI 2020, torchvision's area and aspect ranges): the
    # probability that a training image gets one rectangle set to 0 after the crop; 0 is off.
    erase: float = _field(0.0, late=True)

    # --- Optimisation: SGD, the hash layer at hash_lr_mult x the backbone's lr, the lr
    # multiplied by lr_decay every lr_step iterations (the authors' solver) ---------------
    iters: int = _field(10_000, resumable=True)
    batch_size: int = _field(64)
    lr: float = _field(0.003)
    hash_lr_mult: float = _field(10.0)
    momentum: float = _field(0.9)
    weight_decay: float = _field(5e-4)
    lr_step: int = _field(2000)
    lr_decay: float = _field(0.5)

    # --- Continuation (paper Sec. 3.3) ---------------------------------------------------
    # 'authors': beta = beta0 (1 + gamma t) ** power, recomputed every step_size iterations;
    # 'staircase': (epoch // epoch_step + 1) ** 0.5; 'constant': beta0 throughout (HashNet-sgn).
    schedule: str = _field("authors", used_by="HashNet", also=("constant",))
    beta0: float = _field(1.0)
    gamma: float = _field(0.005)
    power: float = _field(0.5)
    step_size: int = _field(200)
    epoch_step: int = _field(20)

    # --- The weighted pairwise likelihood (paper Eq. 4-5) ---------------------------------
    alpha: float | None = _field(None, used_by="HashNet")  # None: 10 / bits, as in the authors' code
    weighting: str = _field("paper", used_by="HashNet")  # 'paper' |S|/|S1|, |S|/|S0|; 'class_num'; 'none' (HashNet-W)
    class_num: float = _field(1.0)  # the similar pairs' weight under weighting='class_num' (authors' code)
    # Eq. 5's continuous similarity for multi-label data: similar pairs weighted in proportion
    # to c_ij, the squared cosine of the two label rows (HashNet+C; loss.py).
    continuous_similarity: bool = _field(False, used_by="HashNet")

    # --- The loss the loop minimises: HashNet's, or a deep baseline's (deep_baselines.py) on
    # the same network; quantization_weight: the baseline's quantization term (None: its paper's)
    method: str = _field("HashNet")
    quantization_weight: float | None = _field(None, used_by="baselines")

    seed: int = _field(0)

    # --- How the run is executed ---------------------------------------------------------
    device: str = _field("auto", identity=False)  # 'auto': cuda when available, else cpu
    # The forward pass's arithmetic on CUDA: bf16 or fp16 mixed precision (fp16 with the
    # GradScaler), or fp32. bf16 by default: on an H200 it matched or beat fp16 at batch 64
    # (benchmarks/README.md). The CPU always computes in fp32.
    precision: str = _field("bf16", late=True)
    # torch.compile the backbone: True (the default mode) or a mode's name
    # ("reduce-overhead" adds CUDA graphs). Pays for large backbones on a GPU only
    # (benchmarks/README.md, "On a GPU").
    compile: bool | str = _field(False, late=True)
    # Conv backbones' memory layout: None, channels_last on CUDA only (cuDNN's tensor-core
    # convolutions want it); True on the CPU too (oneDNN is faster in it, but the last bits
    # of a run change, so presets opt in); False never.
    channels_last: bool | None = _field(None, late=True)
    num_workers: int = _field(0, identity=False)
    log_every: int = _field(50, identity=False)
    # Checkpoints (when train() is given a file): every checkpoint_every steps (None: a tenth
    # of the run, at most 1,000 steps) and at least every checkpoint_seconds of training.
    checkpoint_every: int | None = _field(None, identity=False)
    checkpoint_seconds: float = _field(300.0, identity=False)

    def __post_init__(self) -> None:
        _check(_integer(self.bits) and 1 <= self.bits <= MAX_BITS, "bits", self.bits,
               f"an integer from 1 to {MAX_BITS}")
        _check(_integer(self.seed) and 0 <= self.seed <= MAX_SEED, "seed", self.seed,
               "an integer from 0 to 2**63-1")
        _check(self.backbone in BACKBONES, "backbone", self.backbone, f"one of {BACKBONES}")
        _check(self.schedule in SCHEDULES, "schedule", self.schedule, f"one of {SCHEDULES}")
        _check(self.weighting in WEIGHTINGS, "weighting", self.weighting, f"one of {WEIGHTINGS}")
        _check(_integer(self.iters) and self.iters >= 1, "iters", self.iters, "an integer >= 1")
        _check(_integer(self.batch_size) and self.batch_size >= 2, "batch_size",
               self.batch_size, "an integer >= 2 (pairs are formed inside the batch)")
        _check(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a number in [0, 1)")
        _check(_finite(self.lr) and self.lr > 0, "lr", self.lr, "a positive finite number")
        _check(isinstance(self.hidden, int) and self.hidden >= 1, "hidden", self.hidden, "an integer >= 1")
        _check(_integer(self.width) and self.width >= 1, "width", self.width, "an integer >= 1")
        _check(_integer(self.convs) and 3 <= self.convs <= 6, "convs", self.convs, "an integer from 3 to 6")
        _check(isinstance(self.augment, bool) or self.augment in AUGMENTATIONS, "augment", self.augment,
               f"True (the data set's own), False or one of {AUGMENTATIONS}")
        _check(_number(self.erase) and 0 <= self.erase <= 1, "erase", self.erase,
               "a probability in [0, 1] (0: no random erasing)")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"one of {PRECISIONS}")
        _check(isinstance(self.compile, bool) or self.compile in COMPILE_MODES, "compile", self.compile,
               f"True, False or one of {COMPILE_MODES}")
        _check(self.channels_last is None or isinstance(self.channels_last, bool), "channels_last", self.channels_last,
               "None (on CUDA only), True or False")
        _check(_number(self.momentum) and 0 <= self.momentum < 1, "momentum", self.momentum, "a number in [0, 1)")
        _check(_finite(self.weight_decay) and self.weight_decay >= 0, "weight_decay", self.weight_decay,
               "a finite number >= 0")
        _check(_number(self.lr_decay) and 0 < self.lr_decay <= 1, "lr_decay", self.lr_decay, "a number in (0, 1]")
        _check(_finite(self.hash_lr_mult) and self.hash_lr_mult > 0, "hash_lr_mult", self.hash_lr_mult,
               "a positive finite number")
        _check(_finite(self.gamma) and self.gamma >= 0, "gamma", self.gamma, "a finite number >= 0")
        _check(_finite(self.power) and self.power >= 0, "power", self.power, "a finite number >= 0")
        _check(isinstance(self.num_workers, int) and self.num_workers >= 0, "num_workers", self.num_workers,
               "an integer >= 0")
        _check(self.step_size >= 1, "step_size", self.step_size, "an integer >= 1")
        _check(self.epoch_step >= 1, "epoch_step", self.epoch_step, "an integer >= 1")
        _check(self.lr_step >= 1, "lr_step", self.lr_step, "an integer >= 1")
        _check(_finite(self.beta0) and self.beta0 > 0, "beta0", self.beta0, "a positive finite number")
        _check(self.alpha is None or (_finite(self.alpha) and self.alpha > 0), "alpha", self.alpha,
               "None or a positive finite number")
        _check(isinstance(self.continuous_similarity, bool), "continuous_similarity", self.continuous_similarity,
               "True or False")
        _check(self.method in losses(), "method", self.method, f"one of {losses()}")
        _check(self.quantization_weight is None or (_finite(self.quantization_weight) and self.quantization_weight >= 0),
               "quantization_weight", self.quantization_weight, "None or a finite number >= 0")
        _check(_finite(self.class_num) and self.class_num > 0, "class_num", self.class_num, "a positive finite number")
        _check(self.device in ("auto", "cpu", "cuda") or str(self.device).startswith("cuda:"),
               "device", self.device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
        _check(self.log_every >= 1, "log_every", self.log_every, "an integer >= 1")
        _check(self.checkpoint_every is None or (_integer(self.checkpoint_every) and self.checkpoint_every >= 1),
               "checkpoint_every", self.checkpoint_every, "None or an integer >= 1")
        _check(_number(self.checkpoint_seconds) and self.checkpoint_seconds >= 0, "checkpoint_seconds",
               self.checkpoint_seconds, "a number of seconds >= 0")
        self._refuse_ignored()

    def _refuse_ignored(self) -> None:
        """A field only the other kind of loss reads, set away from its default: refused."""
        for f in _ignored_fields(self.method, vars(self)):
            why = ("it has no quantization term" if self.method == "HashNet"
                   else "it trains without HashNet's weights, continuation and alpha")
            raise ValueError(f"{f.name}={getattr(self, f.name)!r} is not used by method={self.method!r}: {why}; "
                             f"leave it at {f.default!r}")

    @property
    def checkpoint_interval(self) -> int:
        """Steps between checkpoints: ``checkpoint_every``, or a tenth of the run (at most 1,000)."""
        if self.checkpoint_every is not None:
            return self.checkpoint_every
        return max(1, min(1000, self.iters // 10))

    @property
    def alpha_value(self) -> float:
        """The adaptive-sigmoid scale alpha; 10 / K unless set."""
        return 10.0 / self.bits if self.alpha is None else float(self.alpha)

    def identity(self) -> dict:
        """The fields that decide the numbers of this run, as run keys hash them: late fields
        at their defaults left out, and precision in the form keys were first made with (an
        ``amp`` switch, and the low type only when it is fp16), so that every recorded row
        keeps its key."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata["identity"] and not (f.metadata["late"] and value == f.default):
                out[f.name] = value
        # (A config made in Python as amp=False with precision='fp16', which trained in fp32,
        # is read as fp32 and so keyed as fp32 runs are.)
        out.pop("precision", None)
        out["amp"] = self.precision != "fp32"
        if self.precision == "fp16":
            out["precision"] = "fp16"
        return out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """A config from ``to_dict``'s plain data, or from the older forms ``read_old_forms`` knows."""
        data = read_old_forms(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config: unknown keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**data)


def read_old_forms(data: dict) -> dict:
    """``data`` (a config as plain data) with older forms written as today's:

    - mixed precision was an ``amp`` switch beside the low type (``amp=False``: fp32);
    - a config made in Python before ``_refuse_ignored`` may hold a field its loss ignores
      (a DHN run with weighting='none'): it had no effect on the run, so it is read as its
      default, with a warning, and the checkpoint still loads."""
    data = dict(data)
    if "amp" in data:
        amp = data.pop("amp")
        data["precision"] = data.get("precision", "bf16") if amp else "fp32"
    for f in _ignored_fields(data.get("method", "HashNet"), data):
        warnings.warn(f"a stored config of method={data.get('method')!r} holds {f.name}={data[f.name]!r}, "
                      f"which that method never used; read as {f.default!r}", UserWarning, stacklevel=3)
        data[f.name] = f.default
    return data


def _ignored_fields(method: str, values: dict) -> list:
    """The fields of ``values`` (a config as plain data) that only the other kind of loss than
    ``method``'s reads, set away from their default (and from what ``also`` allows)."""
    kind = "HashNet" if method == "HashNet" else "baselines"
    return [f for f in dataclasses.fields(TrainConfig)
            if f.name in values and f.metadata["used_by"] not in (None, kind)
            and values[f.name] != f.default and values[f.name] not in f.metadata["also"]]


def losses() -> tuple[str, ...]:
    """What the loop may minimise: HashNet's loss, or a deep baseline's (deep_baselines.py)."""
    from .deep_baselines import DEEP_BASELINES  # here, not above: importing config alone loads no torch

    return ("HashNet", *DEEP_BASELINES)


def _fields_where(test) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(TrainConfig) if test(f.metadata))


# The names of the identity fields (``identity()`` writes precision in its older form, as
# ``amp`` and, for fp16 only, ``precision``).
IDENTITY_FIELDS = _fields_where(lambda m: m["identity"])
RESUMABLE_FIELDS = frozenset(_fields_where(lambda m: m["resumable"]))
LATE_FIELDS = _fields_where(lambda m: m["late"])


# Stricter than checks.is_integer / is_number on purpose: a config holds Python ints and floats
# only, so that to_dict() is plain JSON for checkpoints and results (numpy scalars are not).
def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value) -> bool:  # inf passes "> 0" and turns the first step's loss into NaN
    return _number(value) and math.isfinite(value)
