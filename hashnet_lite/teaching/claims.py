"""The runs behind the lessons' claims about alpha, beta and the pair weights.

Each study is a set of ordinary training runs (``train.fit``, the package's own loop),
measured the same way, over several seeds:

- ``"alpha"`` (lesson 04, section 2): the adaptive sigmoid's scale alpha = 10/K (paper Sec.
  3.2) against alpha = 1 and a very large alpha, on the digits at 64 bits. Each run reports
  its mAP, its quantization error, how many training pairs sit on the flat ends of the
  sigmoid, and how many of the backbone's feature units are dead (zero for every item);
- ``"beta"`` (lesson 03, section 4): how far the continuation schedule takes beta by the last
  step, and what that does to the gap between the continuous outputs' mAP (HashNet-nobin)
  and the binary codes' mAP, on the digits at 12 bits;
- ``"weights"`` (lesson 04, sections 6 and 7): HashNet against HashNet-W (no weights) on
  Gaussian clusters, with more classes (fewer similar pairs) and with more overlap.

``run_study(name, smoke=...)`` trains a study (``jobs`` processes side by side, one thread
each) and returns its rows and their per-setting summary (mean, sample standard deviation,
min and max over the seeds). ``write_study`` adds the machine and the command and writes
results/lessons/<name>.json; the lessons quote their full-mode numbers from those files
(``committed``) and tests/teaching/test_claims.py checks that the quoted numbers are the
files'. From a shell:

    python -m hashnet_lite.teaching.claims alpha beta weights --out results/lessons --jobs 8
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ..checks import check, check_option

STUDIES = ("alpha", "beta", "weights", "overlap")
MODULE = "hashnet_lite.teaching.claims"  # what ``python -m`` runs (``__name__`` is "__main__" there)
RESULTS = Path(__file__).resolve().parents[2] / "results" / "lessons"  # the committed files
SATURATED = 0.01  # a pair "sits on a flat end" of the sigmoid when sigma'(theta) < this (|theta| > 4.6)

# What each study trains, in full mode and in smoke mode (the lessons' CI runs: shorter runs,
# fewer settings, every run still there for the effect it shows).
SETTINGS = {
    "alpha": {"full": dict(bits=64, iters=600, alphas=(10 / 64, 1.0, 10.0), seeds=(0, 1, 2)),
              "smoke": dict(bits=64, iters=60, alphas=(10 / 64, 1.0, 10.0), seeds=(0,))},
    # final_beta None: the preset's own schedule (3.46 at step 599); 1.0: beta constant (HashNet-sgn).
    # longer: the preset's schedule (its gamma) run for more steps, so that beta climbs further slowly.
    "beta": {"full": dict(bits=12, iters=600, final_betas=(1.0, None, 10.0, 30.0), longer=(), seeds=(0, 1, 2)),
             "smoke": dict(bits=12, iters=60, final_betas=(1.0, None, 10.0, 30.0), longer=(), seeds=(0,))},
    # HashNet and HashNet-W on C Gaussian clusters (about 1/C of the pairs similar) ...
    "weights": {"full": dict(bits=32, iters=1500, class_counts=(5, 20, 50, 100), spreads=(1.0,), seeds=(0, 1, 2)),
                "smoke": dict(bits=32, iters=100, class_counts=(5, 50), spreads=(1.0,), seeds=(0, 1, 2))},
    # ... and on 10 clusters that overlap more (smaller spread: a harder task, the same share of similar pairs)
    "overlap": {"full": dict(bits=32, iters=1500, class_counts=(10,), spreads=(1.0, 0.6, 0.4), seeds=(0, 1, 2)),
                "smoke": dict(bits=32, iters=100, class_counts=(10,), spreads=(1.0, 0.5), seeds=(0, 1, 2))},
}


# ----------------------------------------------------------------------------- pieces
def gamma_for_final_beta(config, final_beta: float) -> float:
    """The gamma of the authors' schedule, beta = beta0 (1 + gamma t)^power, that puts beta at
    ``final_beta`` on the run's last step (step iters - 1, t rounded down to step_size)."""
    check(isinstance(final_beta, (int, float)) and not isinstance(final_beta, bool) and np.isfinite(final_beta)
          and final_beta >= config.beta0, "final_beta", final_beta, f"a finite number >= beta0 = {config.beta0}")
    check(config.schedule == "authors" and config.power > 0, "config.schedule", config.schedule,
          "'authors' with power > 0 (the schedule whose last beta gamma sets)")
    t_last = ((config.iters - 1) // config.step_size) * config.step_size
    if final_beta == config.beta0:
        return 0.0
    check(t_last > 0, "config.iters", config.iters, f"more than step_size = {config.step_size} steps (else beta never moves)")
    return ((final_beta / config.beta0) ** (1.0 / config.power) - 1.0) / t_last


def features(model, dataset, *, batch_size: int = 512) -> np.ndarray:
    """The backbone's outputs f(x) (the hash layer's inputs) in eval mode, float32 (N, D)."""
    import torch

    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
            for x, _ in loader:
                out.append(model.backbone(x).float())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()


def pair_statistics(z: np.ndarray, labels, *, alpha: float, beta: float) -> dict:
    """How HashNet's loss sees the pairs i != j of items with pre-activations ``z`` (N, K):

    - ``saturated``: the share of pairs with sigma'(theta) < 0.01, theta = alpha <h_i, h_j>,
      h = tanh(beta z): on a flat end of the sigmoid, where theta hardly moves p(similar);
    - ``pull_similar`` / ``push_dissimilar``: the mean |d loss / d theta| = |sigma(theta) - s|
      over the similar / the dissimilar pairs (Eq. 4's gradient: 0 for a pair the loss
      considers settled);
    - ``hamming_similar`` / ``hamming_dissimilar``: the mean Hamming distance of sign(z)
      between similar / dissimilar items.
    """
    from ..checks import as_numpy

    y = as_numpy(labels, "labels")
    y = y.argmax(axis=1) if y.ndim == 2 else y
    h = np.tanh(beta * z.astype(np.float64))
    theta = alpha * h @ h.T
    sigma = 1.0 / (1.0 + np.exp(-np.clip(theta, -500, 500)))
    s = (y[:, None] == y[None, :]).astype(np.float64)
    off = ~np.eye(len(z), dtype=bool)
    similar, dissimilar = (s > 0) & off, (s == 0) & off
    b = np.where(z >= 0, 1.0, -1.0)
    hamming = (z.shape[1] - b @ b.T) / 2
    grad = np.abs(sigma - s)
    return {"saturated": float((sigma * (1 - sigma) < SATURATED)[off].mean()),
            "pull_similar": float(grad[similar].mean()), "push_dissimilar": float(grad[dissimilar].mean()),
            "hamming_similar": float(hamming[similar].mean()), "hamming_dissimilar": float(hamming[dissimilar].mean())}


def measure(model, data, config, *, topk=None) -> dict:
    """A trained model's mAP (binary codes sign(z) and continuous outputs tanh(beta z), beta the
    last step's), the database's quantization error, the training pairs' ``pair_statistics``,
    the outputs' spread (median |z| and |beta z| over the database; the share of |h| < 0.9)
    and ``dead_units``, the share of the backbone's feature units that are 0 for every
    training item (a ReLU that never fires passes no gradient: it stays dead)."""
    from ..continuation import beta_at
    from .gradients import evaluate_pre_activations, pre_activations

    beta = beta_at(config.iters - 1, config)
    z_query, z_database, z_train = (pre_activations(model, d) for d in (data.query, data.database, data.train))
    scores = evaluate_pre_activations("continuation", z_query, z_database, data, beta, topk)
    f = features(model, data.train)
    return {"beta": float(beta), "map_binary": float(scores["map_binary"]),
            "map_continuous": float(scores["map_continuous"]),
            "gap": float(100 * (scores["map_continuous"] - scores["map_binary"])),
            "quantization_error": float(scores["quantization_error"]),
            **pair_statistics(z_train, data.y_train, alpha=config.alpha_value, beta=beta),
            "median_abs_z": float(np.median(np.abs(z_database))),
            "median_abs_beta_z": float(np.median(np.abs(beta * z_database))),
            "undecided": float((np.abs(np.tanh(beta * z_database)) < 0.9).mean()),
            "dead_units": float((f.max(axis=0) <= 0).mean())}


# ----------------------------------------------------------------------------- one run
def _digits_config(bits: int, iters: int, seed: int):
    from ..presets import preset_config, shortened

    config, _ = preset_config("digits", bits=bits, seed=seed)
    return shortened(config, iters) if iters != config.iters else config


def _run(task: dict) -> dict:
    """One training run of a study, described by ``task`` (plain data, so that a worker
    process can take it); returns the task with its measurements and seconds."""
    import torch
    import threadpoolctl

    from ..conventions import evaluate
    from ..methods import method_config
    from ..train import encode, fit

    torch.set_num_threads(1)  # the small models train fastest on one thread
    threadpoolctl.threadpool_limits(1)
    t0 = time.perf_counter()
    if task["study"] in ("alpha", "beta"):
        from ..data import load_data

        data = load_data("digits", seed=0)
        if task.get("longer"):  # the preset's gamma and step size over more steps: beta climbs further
            config = dataclasses.replace(_digits_config(task["bits"], 600, task["seed"]), iters=task["iters"])
        else:  # the preset's schedules compressed into iters steps (presets.shortened)
            config = _digits_config(task["bits"], task["iters"], task["seed"])
        if task["study"] == "alpha":
            config = dataclasses.replace(config, alpha=task["alpha"])
        elif task["final_beta"] is not None:
            config = dataclasses.replace(config, gamma=gamma_for_final_beta(config, task["final_beta"]))
        model, _ = fit(data, config, progress=False)
        out = measure(model, data, config)
    else:
        from ..data.synthetic import gaussian_clusters
        from ..presets import preset_config, shortened

        config, _ = preset_config("features", bits=task["bits"], seed=task["seed"])
        config = shortened(config, task["iters"]) if task["iters"] != config.iters else config
        data = gaussian_clusters(task["num_classes"], spread=task["spread"], seed=task["seed"])
        model, _ = fit(data, method_config(task["method"], config), progress=False)
        out = {"map": evaluate(encode(model, data.query), encode(model, data.database), data, None)["map"]}
    return {**task, **out, "seconds": round(time.perf_counter() - t0, 2)}


def tasks(name: str, settings: dict) -> list[dict]:
    """The runs of study ``name`` under ``settings`` (one entry of ``SETTINGS``), seed last."""
    check_option("name", name, STUDIES)
    s = settings
    if name == "alpha":
        return [dict(study=name, bits=s["bits"], iters=s["iters"], alpha=a, seed=seed)
                for a in s["alphas"] for seed in s["seeds"]]
    if name == "beta":
        return ([dict(study=name, bits=s["bits"], iters=s["iters"], final_beta=b, longer=False, seed=seed)
                 for b in s["final_betas"] for seed in s["seeds"]]
                + [dict(study=name, bits=s["bits"], iters=n, final_beta=None, longer=True, seed=seed)
                   for n in s["longer"] for seed in s["seeds"]])
    return [dict(study=name, bits=s["bits"], iters=s["iters"], num_classes=c, spread=sp, method=m, seed=seed)
            for c in s["class_counts"] for sp in s["spreads"] for m in ("HashNet", "HashNet-W") for seed in s["seeds"]]


# ----------------------------------------------------------------------------- a study
def summarize(rows: list[dict], by: tuple, values: tuple) -> list[dict]:
    """Per distinct ``by`` key, in first-seen order: n and the mean, sample standard deviation
    (ddof 1; 0 for one seed), min and max of each of ``values`` over the rows (the seeds)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    out = []
    for key, group in groups.items():
        entry = dict(zip(by, key), n=len(group))
        for v in values:
            x = np.array([g[v] for g in group], dtype=float)
            entry[v] = {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
                        "min": float(x.min()), "max": float(x.max())}
        out.append(entry)
    return out


def weight_gaps(rows: list[dict]) -> list[dict]:
    """HashNet minus HashNet-W in mAP points, per (num_classes, spread, seed)."""
    maps = {(r["num_classes"], r["spread"], r["seed"], r["method"]): r["map"] for r in rows}
    return [dict(num_classes=c, spread=sp, seed=seed, gap=100 * (maps[c, sp, seed, "HashNet"] - w))
            for (c, sp, seed, m), w in maps.items() if m == "HashNet-W" and (c, sp, seed, "HashNet") in maps]


def summary(name: str, rows: list[dict]) -> list[dict]:
    """The per-setting summary of a study's rows (``summarize`` with the study's keys)."""
    check_option("name", name, STUDIES)
    if name == "alpha":
        return summarize(rows, ("alpha",), ("map_binary", "map_continuous", "quantization_error", "saturated",
                                            "pull_similar", "push_dissimilar", "hamming_similar",
                                            "hamming_dissimilar", "dead_units"))
    if name == "beta":
        return summarize(rows, ("iters", "final_beta"), ("beta", "map_binary", "map_continuous", "gap", "quantization_error",
                                                 "median_abs_z", "median_abs_beta_z", "undecided"))
    by_method = summarize(rows, ("num_classes", "spread", "method"), ("map",))
    gaps = summarize(weight_gaps(rows), ("num_classes", "spread"), ("gap",))
    for g in gaps:  # each setting's HashNet and HashNet-W means beside its gap
        for m in ("HashNet", "HashNet-W"):
            g[m] = next(e["map"] for e in by_method
                        if (e["num_classes"], e["spread"], e["method"]) == (g["num_classes"], g["spread"], m))
    return gaps


def run_study(name: str, *, smoke: bool = False, seeds=None, jobs: int = 1, **changes) -> dict:
    """Train study ``name`` (``STUDIES``) with ``SETTINGS[name]["smoke" or "full"]`` (``seeds``
    and ``changes`` replace entries) in ``jobs`` processes; returns its settings, rows,
    summary and seconds."""
    check_option("name", name, STUDIES)
    check(isinstance(jobs, int) and not isinstance(jobs, bool) and jobs >= 1, "jobs", jobs, "an integer >= 1")
    settings = dict(SETTINGS[name]["smoke" if smoke else "full"])
    unknown = sorted(set(changes) - set(settings))
    check(not unknown, "changes", unknown, f"keys of {sorted(settings)}")
    settings.update(changes)
    if seeds is not None:
        settings["seeds"] = tuple(seeds)
    t0 = time.perf_counter()
    todo = tasks(name, settings)
    if jobs == 1:
        rows = [_run(t) for t in todo]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = list(pool.map(_run, todo))
    return {"study": name, "mode": "smoke" if smoke else "full", "settings": settings, "rows": rows,
            "summary": summary(name, rows), "seconds": round(time.perf_counter() - t0, 1)}


def machine() -> dict:
    """The CPU (``lscpu``'s model name), core count, Python, torch and numpy versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads_per_run": 1, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__}


def write_study(result: dict, out=RESULTS, command: str | None = None) -> Path:
    """``result`` (``run_study``'s) with the machine and the command, as ``out/<study>.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {**result, "machine": machine(), "command": command or " ".join(["python", "-m", MODULE, *sys.argv[1:]])}
    path = out / f"{result['study']}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)
    return path


def committed(name: str, folder=RESULTS) -> dict:
    """The committed full-mode record of study ``name`` (results/lessons/<name>.json)."""
    check_option("name", name, STUDIES)
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: write it with python -m {MODULE} {name} --out {folder}")
    return json.loads(path.read_text())


def entry(record: dict, **key) -> dict:
    """The summary entry of ``record`` (``run_study``'s or ``committed``'s) whose fields equal ``key``."""
    found = [e for e in record["summary"] if all(e.get(k) == v for k, v in key.items())]
    if len(found) != 1:
        raise KeyError(f"{len(found)} summary entries of {record['study']!r} match {key}: expected exactly one")
    return found[0]


# ----------------------------------------------------------------------------- tables (the figures: figures.lesson04)
def table(record: dict):
    """The study's summary as a pandas DataFrame: one row per setting, mean ± std over the seeds."""
    import pandas as pd

    rows = []
    for e in record["summary"]:
        row = {k: v for k, v in e.items() if not isinstance(v, dict)}
        for k, v in e.items():
            if isinstance(v, dict):
                row[k] = f"{v['mean']:.3f} ± {v['std']:.3f}" if e["n"] > 1 else round(v["mean"], 3)
        if record["study"] == "beta" and row["final_beta"] is None:  # the preset's own gamma
            row["final_beta"] = "preset"
        rows.append(row)
    frame = pd.DataFrame(rows)
    key = {"alpha": ["alpha"], "beta": ["iters", "final_beta"], "weights": ["num_classes"],
           "overlap": ["spread"]}[record["study"]]
    return frame.set_index(key)


# ----------------------------------------------------------------------------- shell
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    parser.add_argument("studies", nargs="+", choices=STUDIES)
    parser.add_argument("--out", default=str(RESULTS), help="folder of the <study>.json files")
    parser.add_argument("--smoke", action="store_true", help="the lessons' smoke settings")
    parser.add_argument("--jobs", type=int, default=1, help="training processes side by side (one thread each)")
    args = parser.parse_args(argv)
    for name in args.studies:
        result = run_study(name, smoke=args.smoke, jobs=args.jobs)
        command = f"python -m {MODULE} {name}" + (" --smoke" if args.smoke else "") + f" --jobs {args.jobs}"
        print(write_study(result, args.out, command), f"{result['seconds']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
