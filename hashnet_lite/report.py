"""What a reproduction shows: the methods x code lengths table in Markdown (results.md,
with the published numbers where the paper has them) and its two figures (mAP against the
code length, precision-recall). ``methods_by_bits`` is the one renderer of a methods x
code lengths table; the lessons' tables use it too.
"""
from __future__ import annotations

from pathlib import Path

from .config import TrainConfig
from .conventions import CONVENTION
from .methods import NAMES, REGISTRY
from .presets import PROTOCOLS

# What a shallow row's "inputs" says -> how results.md says it.
SHALLOW_SOURCES = {
    "pixels": "the training items' flattened inputs (pixels)",
    "alexnet-fc7": "the 4,096-d fc7 features (after its ReLU) of an ImageNet-pretrained AlexNet, "
                   "the paper's DeCAF7 inputs",
    "hashnet-backbone": "the features of this run's trained HashNet backbone at the same code length "
                        "(no pretrained AlexNet weights file was on disk)",
}


def methods_by_bits(table: dict[str, dict[int, str]], bits, *, label: str = "method") -> list[str]:
    """The lines of a Markdown table with one row per entry of ``table`` ({row name: {bits:
    cell text}}, in its order) and one column per code length in ``bits``; "-" where a row
    has no cell."""
    lines = [f"| {label} | " + " | ".join(f"{b} bits" for b in bits) + " |", "| --- |" + " --- |" * len(bits)]
    for name, cells in table.items():
        lines.append(f"| {name} | " + " | ".join(cells.get(b, "-") for b in bits) + " |")
    return lines


def results_markdown(rows: list[dict], data, topk: int | None, preset: str | None, config: TrainConfig) -> str:
    """The methods x bits table, with the published numbers where the paper has them."""
    if not rows:
        return f"# Retrieval mAP on `{data.spec}`\n\nNo rows yet.\n"
    bits_list = sorted({r["bits"] for r in rows})
    table = {m: {r["bits"]: _cell(r) for r in rows if r["method"] == m} for m in NAMES}
    table = {m: cells for m, cells in table.items() if cells}
    published = PROTOCOLS[preset].published if preset in PROTOCOLS else None
    if published:
        table["HashNet (paper, AlexNet)"] = {b: f"{v:.4f}" for b, v in published.items()}
    lines = [f"# Retrieval mAP on `{data.spec}`", "",
             f"Protocol: {data.protocol}", "",
             f"mAP@{'all' if topk is None else topk}; ties in Hamming distance broken by database index; "
             f"queries with no relevant item in their top list count as AP 0 (convention `{CONVENTION}`). "
             f"HashNet+C is HashNet trained with Eq. 5's continuous similarity c_ij (equal to HashNet on "
             f"single-label data); HashNet-nobin ranks HashNet's continuous outputs by inner product (no "
             f"binarization: an upper bound).{_shallow_note(rows)} "
             f"Backbone `{config.backbone}`, {config.iters} iterations, seed {config.seed}"
             f"{_split_note(data, config)}.", "",
             *methods_by_bits(table, bits_list)]
    failed = [r for r in rows if r.get("status")]
    if failed:
        lines += ["", "Rows that failed: " + "; ".join(f"{r['method']} at {r['bits']} bits {r['status']}"
                                                       for r in failed) + "."]
    return "\n".join(lines) + "\n"


def _cell(row: dict) -> str:
    """A table cell: the mAP, with a failed row's status."""
    if row.get("map") is None:
        return str(row.get("status", "failed"))
    return f"{row['map']:.4f}" + (" (collapsed)" if str(row.get("status", "")).startswith("collapsed") else "")


def _shallow_note(rows: list[dict]) -> str:
    """What ITQ and LSH were fitted on, per code length where the rows differ (rows from
    before the choice was recorded used the flattened inputs)."""
    bits_by_source = {}
    for r in rows:
        if r["method"] in REGISTRY and REGISTRY[r["method"]].kind == "shallow":
            bits_by_source.setdefault(r.get("inputs", "pixels"), set()).add(r["bits"])
    if len(bits_by_source) <= 1:
        return "".join(f" ITQ and LSH are fitted on {SHALLOW_SOURCES.get(s, s)}." for s in bits_by_source)
    return " ITQ and LSH are fitted on " + "; ".join(
        f"{SHALLOW_SOURCES.get(s, s)} at {', '.join(map(str, sorted(b)))} bits"
        for s, b in sorted(bits_by_source.items())) + "."


def _split_note(data, config: TrainConfig) -> str:
    split_seed = getattr(data, "split_seed", None)
    return "" if split_seed is None or split_seed == config.seed else f" (split seed {split_seed})"


def write_plots(rows, pr_curves, out: Path, title: str) -> None:
    """map_vs_bits.png from the rows with a number, and precision_recall.png from the curves
    (if any), under ``out``. matplotlib is imported here, on first use: the core stays headless."""
    from . import plots

    fig = plots.map_vs_bits(rows, title=f"mAP vs code length ({title})")
    plots.save_figure(fig, out / "map_vs_bits.png")
    if pr_curves:
        fig = plots.precision_recall(pr_curves, title=f"precision-recall ({title})")
        plots.save_figure(fig, out / "precision_recall.png")
