"""``python -m hashnet_lite {demo,train,reproduce}``: thin faces over ``train_run`` and ``experiments``.

Order of work, so that every mistake costs seconds, not a training run: the arguments
(argparse, with --lr checked finite), then the output folder (created, proved writable,
locked, and refused if it holds a run that was not asked to be continued or replaced:
``runs``), then the data and the config, then training.

Errors the user can cause (``errors.HashNetLiteError``, the package's ``ValueError`` for
bad input, a missing file, missing pretrained weights, a bad argument) print as one line on
stderr with exit code 2; so do the system's failures (a full disk, memory), each with what
survived and how to continue, and Ctrl-C (exit code 130). Anything else is a bug and keeps
its traceback. Warnings print as one line each ("warning: Category: message").

The preset defaults that ``--help`` quotes are read from ``presets.PRESETS``.
"""
from __future__ import annotations

import argparse
import math
import sys
import textwrap
import time
import warnings
from pathlib import Path

from .config import BACKBONES, COMPILE_MODES, MAX_BITS, MAX_SEED, PRECISIONS, SCHEDULES, WEIGHTINGS, TrainConfig
from .deep_baselines import DEEP_BASELINES
from .errors import DiskFullError, HashNetLiteError
from .io import disk_full_cause
from .methods import DEFAULT_METHODS, NAMES, REGISTRY, check_methods, method_config
from .model import PretrainedWeightsUnavailable
from .presets import PRESETS

_BASELINES = " and ".join(filter(None, [", ".join(list(DEEP_BASELINES)[:-1]), list(DEEP_BASELINES)[-1]]))

DESCRIPTION = ("Learn compact binary codes for fast image retrieval with HashNet (Cao et al., ICCV 2017) "
               "and measure how well they retrieve (mAP).")
EXAMPLES = """examples:
  python -m hashnet_lite demo
  python -m hashnet_lite train --data digits --bits 32 --out runs/digits32
  python -m hashnet_lite train --data fashion-mnist --bits 32 --out runs/fmnist32
  python -m hashnet_lite train --data npz:my_arrays.npz --bits 48 --out runs/mine
  python -m hashnet_lite train --data digits --bits 32 --method DHN --out runs/digits32-dhn
  python -m hashnet_lite reproduce --data digits --bits 16 32 48 64 --out runs/repro-digits
"""
TRAIN_DESCRIPTION = ("Train HashNet on a data set and measure retrieval: writes the model (model.pt), the "
                     "binary codes (codes.npz), the mAP (metrics.json) and the training history to --out.")
TRAIN_EXAMPLES = """examples:
  python -m hashnet_lite train --data digits --bits 32 --out runs/digits32
  python -m hashnet_lite train --data npz:my_arrays.npz --bits 48 --out runs/mine
  python -m hashnet_lite train --data digits --bits 32 --iters 1200 --out runs/digits32 --resume
"""
REPRODUCE_DESCRIPTION = ("Reproduce the paper's ablation table on one split: HashNet, HashNet-W (no pair "
                         "weights), HashNet-sgn (no continuation), HashNet+C (trained with the continuous similarity c_ij), HashNet-nobin (HashNet's continuous outputs, no binarization), ITQ and LSH "
                         f"at each code length, and with --methods the deep baselines {_BASELINES} "
                         "on the same network, schedule and split; writes results.json, results.md and plots "
                         "to --out.")
REPRODUCE_EXAMPLES = """examples:
  python -m hashnet_lite reproduce --data digits --bits 16 32 48 64 --out runs/repro-digits
  python -m hashnet_lite reproduce --data fashion-mnist --bits 32 --methods HashNet ITQ --out runs/fm
  python -m hashnet_lite reproduce --data digits --bits 32 --methods HashNet {baselines} ITQ LSH --out runs/peers
""".format(baselines=" ".join(DEEP_BASELINES))
TUNE_DESCRIPTION = ("Choose each deep method's hyperparameters by one protocol: the same number of trials "
                    "per method over its learning rate, hash-layer multiplier and own trade-off, each trained "
                    "for --iters steps (the preset's schedules compressed to fit) and scored by mAP on a "
                    "validation split of the training set (never the queries or the database).")
TUNE_EXAMPLES = """examples:
  python -m hashnet_lite tune --data digits --bits 32 --trials 4 --iters 300 --out runs/tune-digits
  python -m hashnet_lite tune --data fashion-mnist --bits 32 --iters 2000 --jobs 8 --out runs/tune-fm
"""
DEMO_DESCRIPTION = ("Train HashNet on the shipped 8x8 digits (under a minute on a CPU), compare it with ITQ "
                    "and LSH, and draw the figure runs/demo/demo.png.")
DEMO_EXAMPLES = """example:
  python -m hashnet_lite demo
"""


def _wrap(text: str) -> str:  # RawDescriptionHelpFormatter keeps the examples' lines, so wrap here
    return textwrap.fill(text, 88)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (exit code 2), as every other error
    of the CLI, not the usage block followed by the error."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


def _positive_int(name, low=1, high=None):
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name}={text!r} is invalid: expected {expected}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"--{name}={value} is invalid: expected {expected}")
        return value
    return parse


# How --help names the presets that are chosen by the data's form rather than by a data set.
PRESET_LABELS = {"features": "npz: feature vectors", "images": "npz: and list: images"}


def preset_defaults(field: str) -> str:
    """The value of TrainConfig ``field`` in every preset, grouped by value, for --help:
    "600 for digits; 5000 for fashion-mnist; ..." (read from ``presets.PRESETS``)."""
    groups = {}
    for name, preset in PRESETS.items():
        value = preset.get(field, getattr(TrainConfig, field))
        groups.setdefault(value, []).append(PRESET_LABELS.get(name, name))
    return "; ".join(f"{value} for {', '.join(names)}" for value, names in groups.items())


def _positive_float(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"--{name}={text!r} is invalid: expected a positive finite number")
        return value
    return parse


def _device(text: str) -> str:
    """--device: auto, cpu, cuda or cuda:N. A CUDA device is checked here, before any work:
    that there is a GPU, and that GPU N exists."""
    if text in ("auto", "cpu"):
        return text
    from .train import resolve_device  # imports the training loop: only when CUDA is asked for

    try:
        resolve_device(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--{e}") from None
    return text


DEVICE_HELP = "where to train: auto (CUDA when there is a GPU), cpu, cuda, cuda:N (GPU N) (default: auto)"


def _add_common(p: argparse.ArgumentParser, *, bits_many: bool) -> None:
    p.add_argument("--data", default="digits", metavar="SPEC",
                   help="the data set: digits (shipped, offline), fashion-mnist[:ROOT], fashion-mosaic[:ROOT], "
                        "cifar10[:ROOT], "
                        "npz:PATH (your arrays), list:ROOT (your list files), imagenet100[:ROOT], "
                        "nuswide[:ROOT], coco[:ROOT] (default: digits)")
    if bits_many:
        p.add_argument("--bits", type=_positive_int("bits", 1, MAX_BITS), nargs="+", default=[16, 32, 48, 64],
                       metavar="K", help=f"code lengths in bits, 1 to {MAX_BITS}, one column of the table each "
                                         f"(default: 16 32 48 64)")
    else:
        p.add_argument("--bits", type=_positive_int("bits", 1, MAX_BITS), default=32, metavar="K",
                       help=f"code length in bits, 1 to {MAX_BITS} (default: 32)")
    p.add_argument("--seed", type=_positive_int("seed", 0, MAX_SEED), default=0, metavar="S",
                   help="training seed: initial weights, batch order, dropout, augmentation, ITQ/LSH; "
                        "0 to 2**63-1 (default: 0)")
    p.add_argument("--split-seed", type=_positive_int("split-seed", 0, MAX_SEED), default=None, metavar="S",
                   help="seed of the query/training/database split of digits, fashion-mnist and cifar10, "
                        "recorded apart from --seed (default: the value of --seed; npz: and list: data "
                        "come split)")
    p.add_argument("--topk", type=_positive_int("topk"), default=None, metavar="R",
                   help="R of mAP@R (default: the data set's protocol: the whole database for digits, "
                        "fashion-mnist, cifar10, npz:, list:; 1000 for imagenet100; 5000 for nuswide, coco)")
    p.add_argument("--backbone", choices=BACKBONES, default=None,
                   help="network under the hash layer (default: the data set's preset: cnn for digits and "
                        "fashion-mnist, alexnet for the paper's data sets, mlp for feature vectors)")
    p.add_argument("--pretrained", action="store_true", default=None,
                   help="start torchvision backbones from ImageNet weights (default: the preset's "
                        "choice, on for the paper's data sets)")
    p.add_argument("--iters", type=_positive_int("iters"), default=None, metavar="N",
                   help=f"training steps (default: the preset's: {preset_defaults('iters')})")
    p.add_argument("--batch-size", type=_positive_int("batch-size", 2), default=None, metavar="B",
                   help=f"items per SGD step (default: the preset's: {preset_defaults('batch_size')})")
    p.add_argument("--lr", type=_positive_float("lr"), default=None,
                   help="backbone learning rate, a positive finite number; the hash layer uses 10x "
                        f"(default: the preset's: {preset_defaults('lr')})")
    p.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="how beta grows: authors (the paper's code), staircase (per epoch), constant "
                        "(no continuation) (default: authors)")
    p.add_argument("--weighting", choices=WEIGHTINGS, default=None,
                   help="pair weights of the loss: paper (Eq. 5), class_num (the authors' PyTorch code), "
                        "none (default: paper)")
    p.add_argument("--continuous-similarity", action="store_true", default=None,
                   help="also weight each pair by 4 c_ij, c_ij the squared cosine of the two label rows "
                        "(Eq. 5's continuous similarity for multi-label data; default: off)")
    p.add_argument("--device", type=_device, default="auto", metavar="DEVICE", help=DEVICE_HELP)
    p.add_argument("--augment", choices=("auto", "none", "crop", "crop-flip"), default="auto",
                   help="training augmentation: auto (the preset's: crop + flip for fashion-mnist and "
                        "cifar10, crop for other images), none, crop (a shift of a few pixels, safe for "
                        "any images), crop-flip (also mirrors left-right: not for digits or text) "
                        "(default: auto)")
    p.add_argument("--erase", type=float, default=None, metavar="P",
                   help="random erasing: the probability that a training image gets one random "
                        "rectangle (2-33%% of its area) set to 0, after the crop; 0 is off; images held in arrays "
                        f"(default: the preset's: {preset_defaults('erase')})")
    p.add_argument("--convs", type=int, choices=range(3, 7), default=None, metavar="N",
                   help="conv layers of the cnn backbone, 3-6: one per resolution, then a second one at "
                        f"the smallest resolution first (default: the preset's: {preset_defaults('convs')})")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="arithmetic of the forward pass on a GPU: bf16 or fp16 mixed precision, or fp32 "
                        "(default: bf16; the CPU always trains in fp32)")
    p.add_argument("--compile", nargs="?", const=True, default=None, metavar="MODE",
                   choices=(True, *COMPILE_MODES),
                   help="torch.compile the backbone: faster steps on a GPU for big backbones after a "
                        "compile of tens of seconds; MODE is torch.compile's (default, reduce-overhead: "
                        "CUDA graphs, max-autotune, max-autotune-no-cudagraphs) (default: off)")
    p.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                   help="memory layout of conv backbones: auto (the preset's: channels_last on a GPU, "
                        "on the CPU for the fashion-mnist preset), on (also on the CPU: faster there, "
                        "but other last bits than a contiguous run), off (contiguous everywhere, on a GPU "
                        "too) (default: auto)")
    p.add_argument("--num-workers", type=_positive_int("num-workers", 0), default=0, metavar="W",
                   help="DataLoader worker processes reading images (default: 0, in the main process)")
    p.add_argument("--root", default=None,
                   help="folder holding the data sets named without :ROOT (default: $HASHNET_LITE_DATA, "
                        "else data/ of this repository)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown)")


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = OneLineParser(prog="python -m hashnet_lite", description=_wrap(DESCRIPTION),
                           epilog=EXAMPLES, formatter_class=formatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,train,reproduce,tune,summarize}")
    demo = sub.add_parser("demo", help="train HashNet on the shipped digits (< 1 min on a CPU), compare with "
                          "ITQ and LSH", description=_wrap(DEMO_DESCRIPTION), epilog=DEMO_EXAMPLES,
                          formatter_class=formatter)
    demo.add_argument("--out", default="runs/demo", metavar="DIR",
                      help="folder for demo.png and metrics.json, replaced by each demo; a folder holding "
                           "another run (train, reproduce) is refused (default: runs/demo)")
    demo.add_argument("--bits", type=_positive_int("bits", 1, MAX_BITS), default=32, metavar="K",
                      help=f"code length in bits, 1 to {MAX_BITS} (default: 32)")
    demo.add_argument("--seed", type=_positive_int("seed", 0, MAX_SEED), default=0, metavar="S",
                      help="seed of the split, the training and the baselines, 0 to 2**63-1 (default: 0)")
    demo.add_argument("--device", type=_device, default="auto", metavar="DEVICE", help=DEVICE_HELP)
    demo.add_argument("--iters", type=_positive_int("iters"), default=None, metavar="N",
                      help=f"training steps (default: the digits preset's {PRESETS['digits']['iters']})")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown)")
    train = sub.add_parser("train", help="train HashNet (or another method) and write metrics.json, codes.npz, model.pt",
                           description=_wrap(TRAIN_DESCRIPTION), epilog=TRAIN_EXAMPLES, formatter_class=formatter)
    _add_common(train, bits_many=False)
    trained = [m for m in NAMES if REGISTRY[m].kind == "trained"]
    train.add_argument("--method", choices=trained, default="HashNet", metavar="NAME",
                       help=f"what to train on the preset's network and schedule: {', '.join(trained)} "
                            "(default: HashNet)")
    train.add_argument("--out", required=True, metavar="DIR",
                       help="output folder, created and checked writable before any data is loaded; one run "
                            "at a time (required, no default)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its checkpoint model.pt, with the same data and "
                            "options; --iters may grow (default: off)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out, finished or not (default: off: a folder holding a run "
                            "is refused)")
    repro = sub.add_parser("reproduce", help="HashNet, its ablations, the deep and shallow baselines at several code lengths",
                           description=_wrap(REPRODUCE_DESCRIPTION), epilog=REPRODUCE_EXAMPLES,
                           formatter_class=formatter)
    _add_common(repro, bits_many=True)
    repro.add_argument("--out", required=True, metavar="DIR",
                       help="output folder; a re-run into it keeps the rows made with the same data and options "
                            "and resumes unfinished ones from checkpoints/ (required, no default)")
    repro.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                       help=f"methods to run, from {' '.join(NAMES)} (default: {' '.join(DEFAULT_METHODS)})")
    repro.add_argument("--overwrite", action="store_true",
                       help="remove the rows in --out that were made otherwise (other data, seed or options) "
                            "with their checkpoints, and make the rows asked for (default: off: such a folder "
                            "is refused)")
    _add_parallel(repro)
    tune = sub.add_parser("tune", help="choose each deep method's lr, hash-layer multiplier and trade-off on a "
                          "validation split of the training set", description=_wrap(TUNE_DESCRIPTION),
                          epilog=TUNE_EXAMPLES, formatter_class=formatter)
    _add_common(tune, bits_many=False)
    tune.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                      help=f"methods to tune, from HashNet {' '.join(DEEP_BASELINES)} (default: all "
                           f"{1 + len(DEEP_BASELINES)})")
    tune.add_argument("--trials", type=_positive_int("trials"), default=8, metavar="N",
                      help="settings tried per method, the same number for every method (default: 8)")
    tune.add_argument("--out", required=True, metavar="DIR",
                      help="output folder: rows/ (one file per trial), tune.json, tune.md (required)")
    tune.add_argument("--save-choices", default=None, metavar="FILE",
                      help="also write the chosen settings where the registry reads them (e.g. "
                           "hashnet_lite/tuned.json) once every trial is done (default: not written)")
    _add_parallel(tune)
    summ = sub.add_parser("summarize", help="one code length over several seeds: mean and sd per method",
                          description=_wrap("Read the results.json of reproduce runs at other training seeds on "
                                            "the same split and write each method's mean and standard deviation."))
    summ.add_argument("folders", nargs="+", metavar="DIR", help="reproduce output folders, one per seed")
    summ.add_argument("--bits", type=_positive_int("bits"), required=True, metavar="K", help="the code length")
    summ.add_argument("--title", default="Seeds", help="the table's heading (default: Seeds)")
    summ.add_argument("--out", default=None, metavar="FILE", help="also write the table here (default: print only)")
    return parser


def _add_parallel(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=_positive_int("jobs"), default=1, metavar="N",
                   help="worker processes on this machine, each taking the next free row: on the CPU each "
                        "gets its share of the cores (2 cores, --jobs 2: one thread each); on a GPU all N "
                        "share it (default: 1)")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="run only the I-th of N disjoint shares of the rows (1 <= I <= N), for a job array: "
                        "every share writes into the same --out, and the last to finish writes the table "
                        "(default: every row)")


def _config_and_data(args):
    """Validate the arguments, load the data, and resolve the preset (before any training)."""
    from .data import load_data, parse_data_spec
    from .presets import preset_config, preset_name

    kind, _ = parse_data_spec(args.data)
    split_seed = args.seed if args.split_seed is None else args.split_seed
    data = load_data(args.data, seed=split_seed, root=args.root)
    preset = preset_name(kind, data.input_shape)
    overrides = dict(bits=args.bits if isinstance(args.bits, int) else args.bits[0], seed=args.seed,
                     backbone=args.backbone, pretrained=args.pretrained, iters=args.iters,
                     batch_size=args.batch_size, lr=args.lr, schedule=args.schedule,
                     weighting=args.weighting, continuous_similarity=args.continuous_similarity,
                     device=args.device, num_workers=args.num_workers, compile=args.compile,
                     augment={"auto": None, "none": False}.get(args.augment, args.augment), erase=args.erase,
                     convs=args.convs, precision=args.precision,
                     channels_last={"auto": None, "on": True, "off": False}[args.channels_last])
    config, topk = preset_config(preset, **overrides)
    if isinstance(config.augment, str) or config.erase:
        from .data.augment import for_training

        for_training(data.train, config)  # refuses a crop or erasing of feature vectors now
    if args.topk is not None:
        topk = args.topk
    from .model import resolve_backbone

    backbone = resolve_backbone(config.backbone, data.input_shape)
    if len(data.input_shape) == 1 and backbone != "mlp":
        raise ValueError(f"--backbone={backbone!r} needs images but {args.data!r} holds feature vectors "
                         f"of shape {tuple(data.input_shape)}; use --backbone mlp")
    if args.convs is not None and backbone != "cnn":
        raise ValueError(f"--convs={args.convs} sets the layers of the cnn backbone, but this run trains "
                         f"{backbone!r}; leave --convs out or use --backbone cnn")
    return data, config, topk, preset


def cmd_train(args) -> int:
    from .train_run import train_and_evaluate
    from .runs import (RunLock, check_run_kind, check_same_evaluation, check_train_folder, prepare_out_dir,
                       remove_train_files)

    out = prepare_out_dir(args.out)
    with RunLock(out) as lock:
        check_run_kind(out, "train")
        check_train_folder(out, resume=args.resume, overwrite=args.overwrite)
        data, config, topk, preset = _config_and_data(args)
        config = method_config(args.method, config, preset=preset)
        check_same_evaluation(out, topk, resume=args.resume)
        if args.overwrite and lock.fd is not None:  # only now: a typo in --data deletes nothing
            remove_train_files(out)
        metrics = train_and_evaluate(data, config, out, topk=topk, progress=not args.no_progress,
                                     resume=args.resume, method=args.method)
    if metrics:
        r = "all" if topk is None else topk
        print(f"{args.method} on {data.spec}, {config.bits} bits: mAP@{r} = {metrics['map']:.4f} "
              f"(convention '{metrics['convention']}', ties by index) in {metrics['seconds']:.1f} s -> {out}")
    return 0


def cmd_reproduce(args) -> int:
    from .distributed import is_main_process
    from .experiments import reproduce
    from .rows import parse_shard
    from .runs import check_run_kind, prepare_out_dir

    methods = check_methods(args.methods or DEFAULT_METHODS)
    shard = parse_shard(args.shard)
    _check_parallel(args, shard)
    out = prepare_out_dir(args.out)
    with _folder_lock(out, shard):
        check_run_kind(out, "reproduce")
        data, config, topk, preset = _config_and_data(args)
        if args.jobs > 1 and not _is_worker():
            _run_workers(args, args.jobs, config.device)
        rows = reproduce(data, args.bits, out, config, topk=topk, methods=methods, preset=preset,
                         progress=not args.no_progress, overwrite=args.overwrite, shard=shard)
    if is_main_process() and not _is_worker():
        print((out / "results.md").read_text())
        print(f"{len(rows)} rows -> {args.out}/results.json")
    return 0


def _is_worker() -> bool:
    import os

    return bool(os.environ.get(WORKER_ENV))


WORKER_ENV = "HASHNET_LITE_WORKER"  # set in the processes that --jobs starts


def _check_parallel(args, shard) -> None:
    """--jobs and --shard exclude each other; under torchrun every rank must train the same rows
    together: no --jobs, no --shard."""
    import os

    if shard is not None and args.jobs > 1:
        raise ValueError(f"--jobs {args.jobs} with --shard {args.shard}: pass one (--jobs runs its workers "
                         f"on this machine; --shard is one share of a job array)")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and (args.jobs > 1 or shard is not None):
        raise ValueError(f"--jobs {args.jobs} / --shard {args.shard} under torchrun: the ranks of one job train "
                         f"each row together; start several torchrun jobs with --shard instead, each without "
                         f"--jobs")


def _folder_lock(out: Path, shard):
    """The folder's run lock, except for a share of a job array and for --jobs' workers, which
    share the folder and exclude one another row by row (``rows``)."""
    import contextlib

    from .runs import RunLock

    if shard is not None or _is_worker():
        return contextlib.nullcontext()
    return RunLock(out)


def _run_workers(args, jobs: int, device: str) -> None:
    """Starts ``jobs`` copies of this command (without --jobs) and waits for them. Each takes
    the next row no other process holds; on the CPU each gets cores // jobs threads."""
    import os
    import subprocess

    argv = list(args.argv)
    for i, token in enumerate(argv):  # drop --jobs N / --jobs=N
        if token == "--jobs":
            del argv[i:i + 2]
            break
        if token.startswith("--jobs="):
            del argv[i]
            break
    if "--no-progress" not in argv:
        argv.append("--no-progress")  # N progress bars on one terminal read as noise
    argv += ["--jobs", "1"]  # the last --jobs wins: a worker never starts workers of its own
    env = {**os.environ, WORKER_ENV: "1"}
    if device == "cpu" or device == "auto" and not _cuda_available():
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        env["OMP_NUM_THREADS"] = str(max(1, cores // jobs))  # the cores this job may use (Slurm, cgroups)
    procs = [subprocess.Popen([sys.executable, "-m", "hashnet_lite", *argv], env=env) for _ in range(jobs)]
    codes = [p.wait() for p in procs]
    failed = [i + 1 for i, code in enumerate(codes) if code != 0]
    if failed:
        warnings.warn(f"--jobs: worker(s) {failed} of {jobs} exited with {[codes[i - 1] for i in failed]}; the "
                      f"rows they did not finish are made now, in this process", RuntimeWarning, stacklevel=2)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def cmd_tune(args) -> int:
    from .io import write_json_atomic
    from .rows import parse_shard
    from .runs import check_run_kind, prepare_out_dir
    from .tune import TUNABLE, tune

    methods = check_methods(args.methods or TUNABLE)
    shard = parse_shard(args.shard)
    _check_parallel(args, shard)
    trial_iters, args.iters = args.iters, None  # --iters: the trials' steps, the preset's schedules compressed
    out = prepare_out_dir(args.out)
    with _folder_lock(out, shard):
        check_run_kind(out, "tune")
        data, config, _, preset = _config_and_data(args)
        if args.jobs > 1 and not _is_worker():
            _run_workers(args, args.jobs, config.device)
        summary = tune(data, config, out, methods=methods, n_trials=args.trials, iters=trial_iters,
                       seed=args.split_seed or 0, preset=preset, shard=shard, progress=not args.no_progress)
    done = not summary["missing"]
    if args.save_choices and not done and not _is_worker():
        warnings.warn(f"--save-choices: {len(summary['missing'])} trials are not done yet "
                      f"({', '.join(summary['missing'][:4])}...); {args.save_choices} is not written until every "
                      f"trial is", RuntimeWarning, stacklevel=2)
    if args.save_choices and done and not _is_worker():
        write_json_atomic({"preset": preset, "bits": config.bits, "command": "python -m hashnet_lite " +
                           " ".join(args.argv), "iters": summary["iters"], "validation": summary["validation"],
                           "chosen": summary["chosen"]}, args.save_choices)
    if not _is_worker():
        print((out / "tune.md").read_text())
    return 0


def cmd_summarize(args) -> int:
    from .io import write_text_atomic
    from .summary import seed_markdown, seed_summary

    text = seed_markdown(seed_summary(args.folders, args.bits), args.bits, args.title)
    if args.out:
        write_text_atomic(text, args.out)
    print(text)
    return 0


def cmd_demo(args) -> int:
    from .runs import RunLock, check_run_kind, prepare_out_dir

    out = prepare_out_dir(args.out)
    with RunLock(out):
        check_run_kind(out, "demo")
        return _demo(args, out)


def _demo(args, out: Path) -> int:
    import dataclasses

    from .data import load_data
    from .conventions import evaluate
    from .io import write_json_atomic
    from .plots import demo_figure, save_figure
    from .presets import preset_config
    from .shallow import baseline_codes
    from .train import encode, fit

    t0 = time.perf_counter()
    data = load_data("digits", seed=args.seed)
    config, topk = preset_config("digits", bits=args.bits, seed=args.seed, device=args.device, iters=args.iters)
    print(f"HashNet demo: {data.protocol}")
    model, history = fit(data, config, progress=not args.no_progress)
    scores = {"HashNet": evaluate(encode(model, data.query), encode(model, data.database), data, topk)["map"]}
    for method in ("ITQ", "LSH"):
        scores[method] = evaluate(*baseline_codes(method, data, args.bits, args.seed), data, topk)["map"]
    seconds = time.perf_counter() - t0
    title = f"HashNet on digits, {args.bits} bits (mAP over the whole database)"
    figure = save_figure(demo_figure(history, scores, title), out / "demo.png")
    write_json_atomic({"map": scores, "bits": args.bits, "topk": topk, "convention": "zero",
                       "seconds": seconds, "config": dataclasses.asdict(config)}, out / "metrics.json")
    print(f"\n{'method':<10} mAP@all ({args.bits} bits)")
    for name, value in scores.items():
        print(f"{name:<10} {value:.4f}")
    print(f"\n{seconds:.1f} s; figure: {figure}")
    return 0


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {category.__name__}: {' '.join(str(message).split())}\n"


# What a user can cause. ValueError is the package's bad-input error (checks.check and every
# loader); FileNotFoundError a data set or checkpoint that is not there.
USER_ERRORS = (HashNetLiteError, ValueError, FileNotFoundError, PretrainedWeightsUnavailable)


def continuation(args) -> str:
    """What survived an interrupted or failed run of ``args.command``, and how to go on."""
    out = Path(args.out).expanduser()
    if args.command == "train":
        if (out / "model.pt").is_file():
            return (f"its checkpoint {str(out / 'model.pt')!r} is kept: --resume continues from it "
                    f"(the same command with --resume)")
        return "no checkpoint was written yet: run the same command again"
    if args.command == "reproduce":
        return (f"the finished rows and checkpoints in {str(out)!r} are kept: the same command continues "
                f"from them")
    return "run demo again"


def _fail(message: str) -> None:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    command = {"demo": cmd_demo, "train": cmd_train, "reproduce": cmd_reproduce, "tune": cmd_tune,
               "summarize": cmd_summarize}[args.command]
    previous = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        return command(args)
    except KeyboardInterrupt:
        _fail(f"interrupted; {continuation(args)}")
        return 130  # 128 + SIGINT, the shell's convention for a run stopped by Ctrl-C
    except USER_ERRORS as err:
        _fail(f"{err}; then {continuation(args)}" if isinstance(err, DiskFullError) else str(err))
        return 2
    except MemoryError as err:
        _fail(f"out of memory ({type(err).__name__}: {err}); try a smaller --batch-size or a machine with "
              f"more memory; {continuation(args)}")
        return 2
    except Exception as err:  # a full disk outside the package's writers (the lock, a library)
        full = disk_full_cause(err)
        if full is None:
            raise
        where = full.filename or args.out
        _fail(f"no space left on device ({full.strerror}) while writing {str(where)!r}; free some space or "
              f"choose a folder on another disk; then {continuation(args)}")
        return 2
    finally:
        warnings.formatwarning = previous


if __name__ == "__main__":
    raise SystemExit(main())
