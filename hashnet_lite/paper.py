"""The paper's evaluation protocols, its published numbers, the commands that rerun them
with this package, and reading back what such a run wrote.

Sources: Cao, Long, Wang, Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017,
Sec. 4 (protocols; mAP of HashNet with an AlexNet backbone), and the public
re-implementations (CIFAR-10's common protocol). The published mAP table itself lives in
``experiments.PUBLISHED`` (``results.md`` quotes it beside our rows); this module only
formats it. Every run's own results are read from the folder ``experiments.reproduce``
wrote (``results.json``, ``results.md``, ``*.png``).
"""
from __future__ import annotations

import json
from pathlib import Path

from .experiments import METHODS, PUBLISHED

# The protocols of the paper's data sets (and CIFAR-10 as re-implementations run it).
PROTOCOLS = [
    dict(key="imagenet100", dataset="ImageNet-100", labels="100 classes, single label",
         train="13,000 (130/class)", queries="5,000", database="128,503", topk=1000),
    dict(key="nuswide", dataset="NUS-WIDE (21 or 81 concepts)", labels="multi-label",
         train="10,000", queries="5,000", database="~150k-190k", topk=5000),
    dict(key="coco", dataset="MS-COCO", labels="80 categories, multi-label",
         train="10,000", queries="5,000", database="~112k-122k", topk=5000),
    dict(key="cifar10", dataset="CIFAR-10 (common variant, not in the paper)", labels="10 classes, single label",
         train="5,000 (500/class)", queries="1,000 (100/class)", database="54,000", topk=None),
]
# mAP at 48 bits that re-implementations report (approximate, as quoted in the field).
REIMPLEMENTATIONS_48 = {"cifar10": 0.78, "imagenet100": 0.64, "nuswide": 0.76, "coco": 0.72}
BITS = (16, 32, 48, 64)


def _r(topk) -> str:
    return "all" if topk is None else str(topk)


def protocols_markdown() -> str:
    """The protocols as a Markdown table."""
    lines = ["| data set | labels | train | queries | database | mAP@R |", "| --- | --- | --- | --- | --- | --- |"]
    for p in PROTOCOLS:
        lines.append(f"| {p['dataset']} | {p['labels']} | {p['train']} | {p['queries']} | {p['database']} "
                     f"| {_r(p['topk'])} |")
    return "\n".join(lines) + "\n"


def published_markdown() -> str:
    """HashNet's published mAP (AlexNet) by data set and code length, plus what
    re-implementations report at 48 bits, as a Markdown table."""
    names = {p["key"]: p["dataset"] for p in PROTOCOLS}
    topk = {p["key"]: p["topk"] for p in PROTOCOLS}
    lines = ["| data set | " + " | ".join(f"{b} bits" for b in BITS) + " | re-implementations, 48 bits |",
             "| --- |" + " --- |" * (len(BITS) + 1)]
    for key in [p["key"] for p in PROTOCOLS]:
        row = PUBLISHED.get(key, {})
        cells = [f"{row[b]:.4f}" if b in row else "-" for b in BITS]
        reimpl = REIMPLEMENTATIONS_48.get(key)
        lines.append(f"| {names[key]} (mAP@{_r(topk[key])}) | " + " | ".join(cells)
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
    for p in PROTOCOLS:
        key = p["key"]
        cmd = reproduce_command(f"{key}:{root}/{key}", f"results/{key}")
        lines.append(f"| {p['dataset']} | `{cmd}` | {needs[key]}; ImageNet-pretrained AlexNet weights "
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
        if row["method"] not in METHODS:
            raise ValueError(f"{path}: row {i} has method {row['method']!r}; expected one of {METHODS}")
    md = folder / "results.md"
    return {"rows": rows, "markdown": md.read_text() if md.is_file() else "",
            "figures": sorted(folder.glob("*.png"))}


def map_table(rows, key: str = "map") -> dict:
    """{method: {bits: value of ``key``}} from result rows, methods in the paper's order
    (rows without ``key``, e.g. HashNet+C's for precision within radius 2, are left out)."""
    table: dict = {}
    for m in METHODS:
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
    lines = [f"| {label} | " + " | ".join(f"{b} bits" for b in bits) + " |", "| --- |" + " --- |" * len(bits)]
    for m, values in table.items():
        lines.append(f"| {m} | " + " | ".join(f"{values[b]:.4f}" if b in values else "-" for b in bits) + " |")
    return "\n".join(lines) + "\n"


def run_seconds(rows) -> float:
    """Seconds the rows took to compute, as ``reproduce`` recorded them (each row's
    ``seconds``). HashNet+C rows are left out: they are timed from the start of HashNet's
    training, so their time is HashNet's plus the encoding."""
    return float(sum(r.get("seconds", 0.0) for r in rows if r["method"] != "HashNet+C"))
