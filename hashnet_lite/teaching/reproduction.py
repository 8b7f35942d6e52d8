"""The paper's evaluation protocols, its published numbers, the commands that rerun them
with this package, and reading back what such a run wrote.

Sources: Cao, Long, Wang, Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017,
Sec. 4 (protocols; mAP of HashNet with an AlexNet backbone), and the public
re-implementations (CIFAR-10's common protocol). The published mAP table itself lives in
``presets.PROTOCOLS`` (``results.md`` quotes it beside our rows); this module only
formats it. Every run's own results are read from the folder ``experiments.reproduce``
wrote (``results.json``, ``results.md``, ``*.png``).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..methods import NAMES
from ..presets import PROTOCOLS
from ..report import methods_by_bits

# The paper's data sets, and CIFAR-10 as the re-implementations run it (presets.PROTOCOLS).
PAPER_SETS = ("imagenet100", "nuswide", "coco", "cifar10")
BITS = (16, 32, 48, 64)


def _r(topk) -> str:
    return "all" if topk is None else str(topk)


def protocols_markdown() -> str:
    """The protocols as a Markdown table."""
    lines = ["| data set | labels | train | queries | database | mAP@R |", "| --- | --- | --- | --- | --- | --- |"]
    for key in PAPER_SETS:
        p = PROTOCOLS[key]
        lines.append(f"| {p.dataset} | {p.labels} | {p.train} | {p.queries} | {p.database} | {_r(p.topk)} |")
    return "\n".join(lines) + "\n"


def published_markdown() -> str:
    """HashNet's published mAP (AlexNet) by data set and code length, plus what
    re-implementations report at 48 bits, as a Markdown table."""
    lines = ["| data set | " + " | ".join(f"{b} bits" for b in BITS) + " | re-implementations, 48 bits |",
             "| --- |" + " --- |" * (len(BITS) + 1)]
    for key in PAPER_SETS:
        p = PROTOCOLS[key]
        row = p.published or {}
        cells = [f"{row[b]:.4f}" if b in row else "-" for b in BITS]
        reimpl = p.reimplementations_48
        lines.append(f"| {p.dataset} (mAP@{_r(p.topk)}) | " + " | ".join(cells)
                     + f" | {'~%.2f' % reimpl if reimpl is not None else '-'} |")
    return "\n".join(lines) + "\n"


def reproduce_command(data: str, out: str, bits=BITS, *extra: str) -> str:
    """The shell command that runs ``experiments.reproduce`` (all six methods) on ``data``."""
    bits = [int(b) for b in bits]
    if not bits or any(b < 1 for b in bits):
        raise ValueError(f"bits={bits!r} is invalid: expected one or more integers >= 1")
    parts = ["python -m hashnet_lite reproduce", f"--data {data}", "--bits " + " ".join(map(str, bits)),
             f"--out {out}", *extra]
    return " ".join(parts)


def full_run_commands(root: str = "/data") -> str:
    """A Markdown table: for each paper data set, the command and what it needs."""
    needs = {
        "cifar10": "the CIFAR-10 python batches under ROOT/cifar10",
        "imagenet100": "the authors' list files train.txt, test.txt, database.txt + images under ROOT/imagenet100",
        "nuswide": "the list files + images under ROOT/nuswide",
        "coco": "the list files + images under ROOT/coco",
    }
    lines = ["| data set | command | needs |", "| --- | --- | --- |"]
    for key in PAPER_SETS:
        cmd = reproduce_command(f"{key}:{root}/{key}", f"results/{key}")
        lines.append(f"| {PROTOCOLS[key].dataset} | `{cmd}` | {needs[key]}; ImageNet-pretrained AlexNet weights "
                     f"(torchvision's file in $TORCH_HOME/hub/checkpoints) |")
    return "\n".join(lines) + "\n"


def load_results(folder) -> dict | None:
    """What ``experiments.reproduce`` wrote in ``folder``: ``rows`` (results.json),
    ``markdown`` (results.md, "" if absent) and ``figures`` (the PNGs, sorted); None when the
    folder holds no results.json. Rows must name a method and bits and carry a mAP."""
    folder = Path(folder)
    path = folder / "results.json"
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of rows, got {type(rows).__name__}")
    for i, row in enumerate(rows):
        missing = [k for k in ("method", "bits", "map") if not isinstance(row, dict) or k not in row]
        if missing:
            raise ValueError(f"{path}: row {i} lacks {missing}; expected rows written by experiments.reproduce")
        if row["method"] not in NAMES:
            raise ValueError(f"{path}: row {i} has method {row['method']!r}; expected one of {NAMES}")
    md = folder / "results.md"
    return {"rows": rows, "markdown": md.read_text() if md.is_file() else "",
            "figures": sorted(folder.glob("*.png"))}


def map_table(rows, key: str = "map") -> dict:
    """{method: {bits: value of ``key``}} from result rows, methods in the paper's order
    (rows without ``key``, e.g. HashNet-nobin's for precision within radius 2, are left out)."""
    table: dict = {}
    for m in NAMES:
        for r in rows:
            if r["method"] == m and key in r:
                table.setdefault(m, {})[int(r["bits"])] = float(r[key])
    return table


def table_markdown(rows, key: str = "map", label: str = "mAP") -> str:
    """A methods x bits Markdown table of ``key`` from result rows ("-" where a row is missing)."""
    table = map_table(rows, key)
    bits = sorted({b for values in table.values() for b in values})
    if not bits:
        raise ValueError(f"no row has {key!r}: expected rows written by experiments.reproduce")
    cells = {m: {b: f"{v:.4f}" for b, v in values.items()} for m, values in table.items()}
    return "\n".join(methods_by_bits(cells, bits, label=label)) + "\n"


def run_seconds(rows) -> float:
    """Seconds the rows took to compute, as ``reproduce`` recorded them (each row's
    ``seconds``). HashNet-nobin rows are left out: they are timed from the start of HashNet's
    training, so their time is HashNet's plus the encoding."""
    return float(sum(r.get("seconds", 0.0) for r in rows if r["method"] != "HashNet-nobin"))
