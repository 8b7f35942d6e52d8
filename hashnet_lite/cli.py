"""``python -m hashnet_lite {demo,train,reproduce}``: thin faces over ``experiments``.

Every argument is checked (and the data loaded) before any training starts.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .config import BACKBONES, SCHEDULES, WEIGHTINGS
from .model import PretrainedWeightsUnavailable

EXAMPLES = """examples:
  python -m hashnet_lite demo
  python -m hashnet_lite train --data digits --bits 32 --out runs/digits32
  python -m hashnet_lite train --data fashion-mnist --bits 32 --out runs/fmnist32
  python -m hashnet_lite train --data npz:my_arrays.npz --bits 48 --out runs/mine
  python -m hashnet_lite reproduce --data digits --bits 16 32 48 64 --out runs/repro-digits
"""


def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name}={text!r} is invalid: expected an integer >= 1") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"--{name}={value} is invalid: expected an integer >= 1")
        return value
    return parse


def _add_common(p: argparse.ArgumentParser, *, bits_many: bool) -> None:
    p.add_argument("--data", default="digits",
                   help="digits | fashion-mnist[:ROOT] | npz:PATH | cifar10:ROOT | list:ROOT | "
                        "imagenet100:ROOT | nuswide:ROOT | coco:ROOT (default: digits)")
    if bits_many:
        p.add_argument("--bits", type=_positive_int("bits"), nargs="+", default=[16, 32, 48, 64])
    else:
        p.add_argument("--bits", type=_positive_int("bits"), default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--topk", type=_positive_int("topk"), default=None,
                   help="R of mAP@R (default: the data set's protocol; all for digits/fashion-mnist/cifar10)")
    p.add_argument("--backbone", choices=BACKBONES, default=None, help="default: the data set's preset")
    p.add_argument("--pretrained", action="store_true", default=None,
                   help="ImageNet weights for torchvision backbones (default: the preset's)")
    p.add_argument("--iters", type=_positive_int("iters"), default=None, help="training steps (default: preset)")
    p.add_argument("--batch-size", type=_positive_int("batch-size"), default=None)
    p.add_argument("--lr", type=float, default=None, help="backbone learning rate (hash layer: 10x)")
    p.add_argument("--schedule", choices=SCHEDULES, default=None)
    p.add_argument("--weighting", choices=WEIGHTINGS, default=None)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--root", default=None, help="folder holding data sets (default: data/ of this repository)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hashnet_lite", description=__doc__,
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train HashNet on the shipped digits (< 1 min on a CPU), compare with ITQ and LSH")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--bits", type=_positive_int("bits"), default=32)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    demo.add_argument("--iters", type=_positive_int("iters"), default=None, help="training steps (default: preset)")
    demo.add_argument("--no-progress", action="store_true")
    train = sub.add_parser("train", help="train HashNet and write metrics.json, codes.npz, model.pt")
    _add_common(train, bits_many=False)
    train.add_argument("--out", required=True)
    train.add_argument("--resume", action="store_true", help="continue from DIR/model.pt when it exists")
    repro = sub.add_parser("reproduce", help="HashNet, its ablations, ITQ and LSH at several code lengths")
    _add_common(repro, bits_many=True)
    repro.add_argument("--out", required=True)
    repro.add_argument("--methods", nargs="+", default=None, help="default: all six")
    return parser


def _config_and_data(args):
    """Validate the arguments, load the data, and resolve the preset (before any training)."""
    from .data import load_data, parse_data_spec
    from .presets import preset_config, preset_name

    kind, _ = parse_data_spec(args.data)
    data = load_data(args.data, seed=args.seed, root=args.root)
    preset = preset_name(kind, data.input_shape)
    overrides = dict(bits=args.bits if isinstance(args.bits, int) else args.bits[0], seed=args.seed,
                     backbone=args.backbone, pretrained=args.pretrained, iters=args.iters,
                     batch_size=args.batch_size, lr=args.lr, schedule=args.schedule,
                     weighting=args.weighting, device=args.device, num_workers=args.num_workers)
    config, topk = preset_config(preset, **overrides)
    if args.topk is not None:
        topk = args.topk
    from .model import resolve_backbone

    backbone = resolve_backbone(config.backbone, data.input_shape)
    if len(data.input_shape) == 1 and backbone != "mlp":
        raise ValueError(f"--backbone={backbone!r} needs images but {args.data!r} holds feature vectors "
                         f"of shape {tuple(data.input_shape)}; use --backbone mlp")
    return data, config, topk, preset


def cmd_train(args) -> int:
    from .experiments import train_and_evaluate

    data, config, topk, _ = _config_and_data(args)
    metrics = train_and_evaluate(data, config, args.out, topk=topk, progress=not args.no_progress,
                                 resume=args.resume)
    if metrics:
        r = "all" if topk is None else topk
        print(f"{data.spec}, {config.bits} bits: mAP@{r} = {metrics['map']:.4f} "
              f"(convention '{metrics['convention']}', ties by index) in {metrics['seconds']:.1f} s -> {args.out}")
    return 0


def cmd_reproduce(args) -> int:
    from .distributed import is_main_process
    from .experiments import METHODS, check_methods, reproduce

    methods = check_methods(args.methods or METHODS)
    data, config, topk, preset = _config_and_data(args)
    rows = reproduce(data, args.bits, args.out, config, topk=topk, methods=methods, preset=preset,
                     progress=not args.no_progress)
    if is_main_process():
        print((Path(args.out) / "results.md").read_text())
        print(f"{len(rows)} rows -> {args.out}/results.json")
    return 0


def cmd_demo(args) -> int:
    import dataclasses

    from .data import load_data
    from .experiments import baseline_codes, evaluate
    from .io import write_json_atomic
    from .plots import demo_figure, save_figure
    from .presets import preset_config
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
    out = Path(args.out)
    title = f"HashNet on digits, {args.bits} bits (mAP over the whole database)"
    figure = save_figure(demo_figure(history, scores, title), out / "demo.png")
    write_json_atomic({"map": scores, "bits": args.bits, "topk": topk, "convention": "zero",
                       "seconds": seconds, "config": dataclasses.asdict(config)}, out / "metrics.json")
    print(f"\n{'method':<10} mAP@all ({args.bits} bits)")
    for name, value in scores.items():
        print(f"{name:<10} {value:.4f}")
    print(f"\n{seconds:.1f} s; figure: {figure}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return {"demo": cmd_demo, "train": cmd_train, "reproduce": cmd_reproduce}[args.command](args)
    except (ValueError, FileNotFoundError, PretrainedWeightsUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
