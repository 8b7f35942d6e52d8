"""One frozen configuration for a HashNet training run.

Variants are made with ``dataclasses.replace(config, field=value)``; nothing mutates a
config at run time. ``to_dict`` / ``from_dict`` turn it into plain data for checkpoints
and result files.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .checks import check as _check

SCHEDULES = ("authors", "staircase", "constant")
WEIGHTINGS = ("paper", "class_num", "none")
LOSSES = ("HashNet", "DHN", "DPSH", "DSH", "CSQ")  # what the loop minimises (methods.py names them)
BACKBONES = ("auto", "mlp", "cnn", "alexnet", "resnet18", "resnet50", "vgg16")
AUGMENTATIONS = ("crop", "crop-flip")  # what ``augment`` may name (data/augment.py)
PRECISIONS = ("bf16", "fp16")  # the low-precision type of mixed precision on CUDA
# Fields added after results were recorded: at their defaults they are left out of a
# result's run key (experiments.run_key), so that the rows made before them stay valid.
LATE_FIELDS = ("precision", "compile", "channels_last", "erase", "convs")
# torch.compile's modes (TrainConfig.compile may name one; True is "default").
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# Bounds that turn a typo into a clear refusal, not a huge allocation or an overflow deep in
# torch: codes of 4,096 bits are far beyond what hashing uses (16-128), and torch.manual_seed
# takes a signed 64-bit seed.
MAX_BITS = 4096
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (defaults: the authors' choices)."""

    bits: int = 32
    backbone: str = "auto"  # 'auto': mlp for feature vectors, cnn for images
    pretrained: bool = False  # torchvision ImageNet weights for alexnet/resnet*/vgg16
    hidden: int = 512  # width of the mlp/cnn backbones' feature layer
    width: int = 16  # the cnn backbone's first conv channels (then 2x, 4x)
    # The cnn backbone's conv layers, 3-6: one per resolution, extra ones at the smallest first.
    # Like width and hidden, other backbones ignore it (but a non-default value is in the run key).
    convs: int = 3
    dropout: float = 0.2  # dropout of the mlp/cnn backbones (0 makes DDP match one process)
    # Training augmentation: True, the data set's own (crop + flip for fashion-mnist, cifar10
    # and list: images; digits and npz: have none); False, none; 'crop' or 'crop-flip', that
    # augmentation on any image data (data/augment.py; flips are not safe for every data set).
    augment: bool | str = True
    # Random erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020; the
    # area and aspect ranges of torchvision's RandomErasing): the probability that a
    # training image gets one random rectangle (2-33% of its area, aspect 0.3-3.3) set to
    # 0, after the crop. 0 is off. Images held in arrays; data/augment.py.
    erase: float = 0.0

    # Optimisation: SGD, momentum 0.9, weight decay 5e-4, the hash layer at 10x the
    # backbone's learning rate, lr multiplied by lr_decay every lr_step iterations.
    iters: int = 10_000
    batch_size: int = 64
    lr: float = 0.003
    hash_lr_mult: float = 10.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step: int = 2000
    lr_decay: float = 0.5

    # Continuation (paper Sec. 3.3): beta = beta0 * (1 + gamma * t) ** power, recomputed
    # every step_size iterations ('authors'); (epoch // epoch_step + 1) ** 0.5 ('staircase');
    # beta0 throughout ('constant', the HashNet-sgn ablation).
    schedule: str = "authors"
    beta0: float = 1.0
    gamma: float = 0.005
    power: float = 0.5
    step_size: int = 200
    epoch_step: int = 20

    # Weighted pairwise likelihood (paper Eq. 4-5).
    alpha: float | None = None  # None: 10 / bits, as in the authors' code
    weighting: str = "paper"  # 'paper' |S|/|S1|, |S|/|S0|; 'class_num'; 'none' (HashNet-W)
    class_num: float = 1.0  # the weight of similar pairs under weighting='class_num' (authors' code)
    # Eq. 5's continuous similarity for multi-label data: each pair also weighted by 4 c_ij,
    # c_ij the squared cosine of the two label rows (0.25 for pairs sharing no label).
    continuous_similarity: bool = False

    # The loss the loop minimises: HashNet's, or a deep baseline's (deep_baselines.py) on the
    # same network; quantization_weight: that baseline's quantization term (None: its paper's).
    method: str = "HashNet"
    quantization_weight: float | None = None

    seed: int = 0
    device: str = "auto"  # 'auto' -> cuda when available, else cpu
    amp: bool = True  # mixed precision; only ever used on CUDA
    # The low-precision type under amp: bf16 or fp16 (with the GradScaler). bf16 by default:
    # on an H200 it matched or beat fp16 at batch 64 (the GradScaler's inf check reads the
    # GPU at every step) and compiled it was the fastest ResNet-50 at 256; eager fp16 was
    # faster for ResNet-50 at 256 (benchmarks/README.md, "On a GPU").
    precision: str = "bf16"
    # torch.compile the backbone (CUDA and CPU): True (torch.compile's default mode) or the
    # name of a mode ("reduce-overhead" adds CUDA graphs, which cut the launch overhead that
    # left the GPU idle a third of AlexNet's bf16 step; not measured yet). On an H200 at
    # batch 256 the default mode paid for ResNet-50 (x1.44 over bf16, after 39 s of
    # compiling) and AlexNet (x1.16, 19 s), not for the small CNN (x0.90); benchmarks/README.md.
    compile: bool | str = False
    # The memory layout of conv backbones: None (default) channels_last on CUDA only, where
    # cuDNN's tensor-core convolutions want it; True on the CPU too (oneDNN's kernels are
    # faster in it: the fashion-mnist CNN's step 43 -> 27 ms on 2 cores, benchmarks/README.md);
    # False never. Not the default on the CPU because it changes the last bits of a run, and
    # the numbers recorded before it were made contiguous.
    channels_last: bool | None = None
    num_workers: int = 0
    log_every: int = 50
    # Checkpoints (when train() is given a file): every ``checkpoint_every`` steps; None
    # (default) = every tenth of the run, at most every 1,000 steps, so that a run of any
    # length can be resumed after a kill. Also at least every ``checkpoint_seconds`` of
    # training. Neither changes the numbers a run gives.
    checkpoint_every: int | None = None
    checkpoint_seconds: float = 300.0

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
        _check(isinstance(self.amp, bool), "amp", self.amp, "True or False")
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
        _check(self.method in LOSSES, "method", self.method, f"one of {LOSSES}")
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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config: unknown keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**data)


# Stricter than checks.is_integer / is_number on purpose: a config holds Python ints and floats
# only, so that to_dict() is plain JSON for checkpoints and results (numpy scalars are not).
def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value) -> bool:  # inf passes "> 0" and turns the first step's loss into NaN
    return _number(value) and math.isfinite(value)

