"""One code length over several seeds: the mean and the spread of each method, and which
leads are smaller than the spread.

Each folder is one ``reproduce`` run (its results.json) at another training seed on the same
split, so the methods are paired: seed s of every method saw the same split and the same
seeded draws. ``python -m hashnet_lite summarize --bits 32 DIR DIR DIR --out seeds.md``.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from .errors import RunFolderError
from .methods import NAMES


def seed_rows(folders, bits: int) -> dict[str, dict[int, float | None]]:
    """{method: {seed: mAP}} at ``bits`` from each folder's results.json."""
    table: dict[str, dict[int, float | None]] = {}
    for folder in folders:
        path = Path(folder) / "results.json"
        try:
            rows = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise RunFolderError(f"{str(path)!r} cannot be read ({type(e).__name__}): expected the results.json "
                                 f"of a finished reproduce run") from e
        for r in rows:
            if r.get("bits") == bits:
                seeds = table.setdefault(r["method"], {})
                if r["seed"] in seeds:
                    raise RunFolderError(f"{r['method']} at {bits} bits has seed {r['seed']} in two of the folders "
                                         f"{[str(f) for f in folders]}: expected one folder per seed")
                seeds[r["seed"]] = r.get("map")
    if not table:
        raise RunFolderError(f"no rows at {bits} bits in {[str(f) for f in folders]}")
    return table


def seed_summary(folders, bits: int) -> dict[str, dict]:
    """{method: {"maps": {seed: mAP}, "mean", "sd"}}; mean and sd over the seeds with a number
    (sd None with fewer than two)."""
    out = {}
    for method, maps in seed_rows(folders, bits).items():
        values = [v for v in maps.values() if v is not None]
        out[method] = {"maps": maps, "mean": statistics.mean(values) if values else None,
                       "sd": statistics.stdev(values) if len(values) > 1 else None}
    return out


def close_calls(summary: dict, leader: str = "HashNet") -> list[str]:
    """The methods whose mean is within the larger of the two sds of ``leader``'s mean."""
    if leader not in summary or summary[leader]["mean"] is None:
        return []
    lead = summary[leader]
    calls = []
    for method, s in summary.items():
        if method == leader or s["mean"] is None or s["sd"] is None or lead["sd"] is None:
            continue
        if abs(lead["mean"] - s["mean"]) < max(lead["sd"], s["sd"]):
            calls.append(method)
    return calls


def seed_markdown(summary: dict, bits: int, title: str) -> str:
    seeds = sorted({s for v in summary.values() for s in v["maps"]})
    order = {m: i for i, m in enumerate(NAMES)}
    lines = [f"# {title}", "", f"mAP at {bits} bits over {len(seeds)} training seeds on one split (paired: seed s "
             f"of every method saw the same split and the same draws); sd is the sample standard deviation.", "",
             "| method | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | sd |",
             "| --- |" + " --- |" * (len(seeds) + 2)]
    for method in sorted(summary, key=lambda m: order.get(m, 99)):
        s = summary[method]
        cells = [f"{s['maps'][k]:.4f}" if s["maps"].get(k) is not None else "-" for k in seeds]
        mean = "-" if s["mean"] is None else f"{s['mean']:.4f}"
        sd = "-" if s["sd"] is None else f"{s['sd']:.4f}"
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {mean} | {sd} |")
    calls = close_calls(summary)
    if calls:
        lines += ["", "Within the spread of HashNet (|difference of means| < the larger sd): " + ", ".join(calls) + "."]
    return "\n".join(lines) + "\n"
