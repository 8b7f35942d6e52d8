"""teaching.claims: the runs behind lessons 03 and 04's claims about alpha, beta and the pair
weights, and the committed full-mode files (results/lessons/*.json) the lessons quote.

The quotes are rebuilt here from the files with the rounding the prose uses and must appear word for
word in the lesson's Markdown, so that no quoted number drifts from the run that made it."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from hashnet_lite.continuation import beta_at
from hashnet_lite.presets import preset_config, shortened
from hashnet_lite.teaching import claims

REPO = Path(__file__).resolve().parents[2]


def markdown(notebook: str) -> str:
    nb = json.loads(next((REPO / "notebooks").glob(f"{notebook}_*.ipynb")).read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return re.sub(r"\s+", " ", text)  # line breaks inside a sentence do not matter


# ----------------------------------------------------------------------------- the pieces
@pytest.mark.parametrize("iters", [600, 60, 2400])
@pytest.mark.parametrize("target", [1.0, 3.0, 10.0, 30.0])
def test_gamma_for_final_beta_puts_the_last_step_at_the_target(iters, target):
    config, _ = preset_config("digits")
    config = shortened(config, iters) if iters != config.iters else config
    gamma = claims.gamma_for_final_beta(config, target)
    assert beta_at(config.iters - 1, dataclasses.replace(config, gamma=gamma)) == pytest.approx(target, rel=1e-12)


def test_the_presets_own_schedule_ends_at_3_46():
    # the number lesson 03 names as "the preset's" final beta, in full and in smoke mode alike
    config, _ = preset_config("digits")
    for c in (config, shortened(config, 60)):
        assert round(beta_at(c.iters - 1, c), 2) == 3.46


@pytest.mark.parametrize("bad, match", [(0.5, "final_beta=0.5"), (True, "final_beta=True"),
                                        (float("inf"), "final_beta=inf")])
def test_gamma_for_final_beta_refuses_a_target_below_beta0_or_not_a_number(bad, match):
    config, _ = preset_config("digits")
    with pytest.raises(ValueError, match=match):
        claims.gamma_for_final_beta(config, bad)


def test_gamma_for_final_beta_refuses_a_schedule_it_does_not_set():
    config, _ = preset_config("digits", schedule="constant")
    with pytest.raises(ValueError, match="config.schedule='constant'"):
        claims.gamma_for_final_beta(config, 10.0)


def test_pair_statistics_on_settled_and_unsettled_pairs():
    # two classes, codes of a class equal, the classes opposite: with a large alpha every pair is
    # settled (flat sigmoid, no pull, no push); with alpha -> 0 none is (sigma = 1/2 everywhere)
    z = np.array([[5.0] * 8, [5.0] * 8, [-5.0] * 8, [-5.0] * 8])
    labels = np.array([0, 0, 1, 1])
    settled = claims.pair_statistics(z, labels, alpha=10.0, beta=1.0)
    assert settled["saturated"] == 1.0 and settled["pull_similar"] < 1e-9 and settled["push_dissimilar"] < 1e-9
    assert (settled["hamming_similar"], settled["hamming_dissimilar"]) == (0.0, 8.0)
    flat = claims.pair_statistics(z, labels, alpha=1e-9, beta=1.0)
    assert flat["saturated"] == 0.0 and flat["pull_similar"] == pytest.approx(0.5)


def test_summarize_gives_the_mean_and_the_sample_standard_deviation():
    rows = [{"k": "a", "v": 1.0}, {"k": "a", "v": 3.0}, {"k": "b", "v": 2.0}]
    a, b = claims.summarize(rows, ("k",), ("v",))
    assert a["n"] == 2 and a["v"] == {"mean": 2.0, "std": pytest.approx(np.sqrt(2)), "min": 1.0, "max": 3.0}
    assert b["v"]["std"] == 0.0  # one seed: no spread to report


@pytest.mark.parametrize("kwargs, match", [(dict(name="gamma"), "name='gamma'"),
                                           (dict(name="alpha", jobs=0), "jobs=0"),
                                           (dict(name="alpha", lr=0.1), "changes=\\['lr'\\]")])
def test_run_study_refuses_bad_arguments_before_training(kwargs, match):
    with pytest.raises(ValueError, match=match):
        claims.run_study(**kwargs)


def test_every_study_has_its_runs_in_both_modes():
    for name in claims.STUDIES:
        for mode in ("full", "smoke"):
            todo = claims.tasks(name, claims.SETTINGS[name][mode])
            assert todo and len({json.dumps(t, sort_keys=True) for t in todo}) == len(todo), (name, mode)


@pytest.mark.slow
def test_in_smoke_mode_a_very_large_alpha_already_kills_the_network():
    """The effect lesson 04's smoke run is there for: with alpha = 10 the first steps' gradients
    (alpha times those of alpha = 1) leave almost every feature unit dead, so every item gets the
    same code and mAP falls to chance (10 classes: 0.1), while alpha = 10/K trains."""
    run = claims.run_study("alpha", smoke=True)
    by = {e["alpha"]: e for e in run["summary"]}
    assert by[10.0]["dead_units"]["mean"] > 0.9 and by[10.0]["map_binary"]["mean"] < 0.15
    assert by[10 / 64]["map_binary"]["mean"] > 0.5 and by[10 / 64]["dead_units"]["mean"] < 0.5


# ----------------------------------------------------------------------------- the committed files
@pytest.mark.parametrize("name", [n for n in claims.STUDIES if (claims.RESULTS / f"{n}.json").is_file()])
def test_a_committed_file_is_a_full_run_whose_summary_is_its_rows(name):
    record = claims.committed(name)
    assert record["mode"] == "full" and record["study"] == name
    assert record["command"].startswith(f"python -m hashnet_lite.teaching.claims {name}")
    assert {"cpu", "cores", "threads_per_run", "torch"} <= set(record["machine"])
    expected = claims.tasks(name, claims.SETTINGS[name]["full"])
    assert len(record["rows"]) == len(expected)  # every run of the full settings, in their order
    assert [{k: r[k] for k in t} for r, t in zip(record["rows"], expected)] == json.loads(json.dumps(expected))
    assert record["summary"] == json.loads(json.dumps(claims.summary(name, record["rows"])))


# ----------------------------------------------------------------------------- what the lessons quote
def _gaps(record: dict) -> dict:
    return {e["num_classes"]: e for e in record["summary"]}


def test_lesson_04_quotes_the_weights_study_over_three_seeds():
    e = _gaps(claims.committed("weights"))

    def gap(c):
        return f"{c} classes {e[c]['gap']['mean']:.1f} ± {e[c]['gap']['std']:.1f}"

    quote = (f"{gap(5)}, {gap(20)}, {gap(50)} (HashNet {e[50]['HashNet']['mean']:.3f} against "
             f"{e[50]['HashNet-W']['mean']:.3f}) and {gap(100)} ({e[100]['HashNet']['mean']:.3f} against "
             f"{e[100]['HashNet-W']['mean']:.3f})")
    assert quote in markdown("04"), quote


def test_the_weights_claim_holds_on_every_seed():
    """"Many times its spread" at 50 and 100 classes, "level within that spread" up to 20: every seed's gap."""
    e = _gaps(claims.committed("weights"))
    for c in (50, 100):
        assert e[c]["gap"]["min"] > 5 * e[c]["gap"]["std"] > 0, e[c]["gap"]
    for c in (5, 20):
        assert abs(e[c]["gap"]["mean"]) < 2 * e[c]["gap"]["std"] + 0.1, e[c]["gap"]


# The sentences lessons 03 and 04 build on the committed alpha and beta studies, rebuilt from the files.


def pm(e, key, d=3):
    return f"{e[key]['mean']:.{d}f} ± {e[key]['std']:.{d}f}"


def alpha_quotes():
    r = claims.committed("alpha")
    a = {e["alpha"]: e for e in r["summary"]}
    small, one, big = a[10 / 64], a[1.0], a[10.0]
    return [
        f"mAP {pm(small, 'map_binary')} against {pm(one, 'map_binary')}",
        f"{one['saturated']['mean']:.0%} of the training pairs sit on a flat end of the sigmoid (against "
        f"{small['saturated']['mean']:.0%} with 10/K)",
        f"the push on dissimilar pairs falls to {one['push_dissimilar']['mean']:.3f} (from {small['push_dissimilar']['mean']:.3f})",
        f"{big['dead_units']['mean']:.0%} of its units end dead (against {small['dead_units']['mean']:.1%})",
        f"(quantization error {big['quantization_error']['mean']:.2f}) and mAP falls to {pm(big, 'map_binary')}",
    ]


def beta_quotes():
    r = claims.committed("beta")
    b = {e["final_beta"]: e for e in r["summary"]}
    pre, ten, thirty = b[None], b[10.0], b[30.0]
    return [
        f"The quantization error is {pm(ten, 'quantization_error')} against {pm(pre, 'quantization_error')}",
        f"the gap between continuous and binary mAP {pm(ten, 'gap', 2)} points against {pm(pre, 'gap', 2)}",
        f"The median $|z|$ falls from {pre['median_abs_z']['mean']:.2f} to {ten['median_abs_z']['mean']:.2f}",
        f"the median $|\\beta z|$ hardly moves ({pre['median_abs_beta_z']['mean']:.2f} to {ten['median_abs_beta_z']['mean']:.2f})",
        f"The quantization error falls to {pm(thirty, 'quantization_error')}, yet the gap is {pm(thirty, 'gap', 2)} points "
        f"and the binary mAP drops to {pm(thirty, 'map_binary')} (from {pm(pre, 'map_binary')})",
    ]


def beta_seed0_quotes():
    """Section 4's 12-bit numbers: the seed-0 rows of the beta study (the same runs)."""
    r = claims.committed("beta")
    row = {(x["final_beta"], x["seed"]): x for x in r["rows"] if not x["longer"]}
    pre, sgn = row[None, 0], row[1.0, 0]
    return [
        f"At 12 bits HashNet also ends above HashNet-sgn ({pre['map_binary']:.3f} against {sgn['map_binary']:.3f})",
        f"the continuous outputs rank {pre['map_continuous']:.3f} at 12 bits against {pre['map_binary']:.3f} for the "
        f"binary codes: binarizing cost {pre['gap']:.1f} points",
        f"which leaves a quantization error of {pre['quantization_error']:.3f}",
    ]


@pytest.mark.parametrize("lesson, builder", [("04", alpha_quotes), ("03", beta_quotes), ("03", beta_seed0_quotes)])
def test_the_lessons_quote_the_committed_alpha_and_beta_studies(lesson, builder):
    text = markdown(lesson)
    for quote in builder():
        assert re.sub(r"\s+", " ", quote) in text, f"lesson {lesson} should say {quote!r} (from results/lessons/)"


def test_the_beta_readings_hold_in_the_committed_file():
    """What lesson 03 reads off the sweep: beta 10 moves neither the quantization error nor the gap by more
    than the spread over the seeds; beta 30 binarizes (error < 0.01) with a larger gap and a lower mAP;
    its schedule is past 9 by step 50 (the number the lesson gives)."""
    b = {e["final_beta"]: e for e in claims.committed("beta")["summary"]}
    pre, ten, thirty = b[None], b[10.0], b[30.0]
    assert abs(ten["gap"]["mean"] - pre["gap"]["mean"]) < max(ten["gap"]["std"], pre["gap"]["std"])
    assert abs(ten["quantization_error"]["mean"] - pre["quantization_error"]["mean"]) < 0.02
    assert ten["median_abs_z"]["mean"] < pre["median_abs_z"]["mean"] / 2  # smaller z answers the larger beta
    assert thirty["quantization_error"]["max"] < 0.01 and thirty["gap"]["mean"] > pre["gap"]["mean"]
    assert thirty["map_binary"]["mean"] < pre["map_binary"]["mean"] - 0.05
    config, _ = preset_config("digits", bits=12)
    gamma = claims.gamma_for_final_beta(config, 30.0)
    assert f"($\\beta$ = {beta_at(50, dataclasses.replace(config, gamma=gamma)):.1f} at step 50)" in markdown("03")


def test_the_alpha_readings_hold_in_the_committed_file():
    """alpha = 1 saturates most pairs and ranks level with 10/K (within two standard deviations); alpha = 10
    kills most feature units on every seed and ranks far below."""
    a = {e["alpha"]: e for e in claims.committed("alpha")["summary"]}
    small, one, big = a[10 / 64], a[1.0], a[10.0]
    assert one["saturated"]["mean"] > 0.8 > 0.2 > small["saturated"]["mean"]
    spread = 2 * max(small["map_binary"]["std"], one["map_binary"]["std"])
    assert abs(one["map_binary"]["mean"] - small["map_binary"]["mean"]) < spread
    assert big["dead_units"]["min"] > 0.9 and big["map_binary"]["max"] < 0.5 < small["map_binary"]["min"]


@pytest.mark.slow
def test_in_smoke_mode_the_weights_help_at_50_classes_on_every_seed():
    """Lesson 04's smoke-mode sentence: at 100 steps HashNet is ahead of HashNet-W at 50 classes on each of
    the three seeds, and level at 5 classes."""
    run = claims.run_study("weights", smoke=True)
    e = _gaps(run)
    assert e[50]["gap"]["min"] > 10 and abs(e[5]["gap"]["mean"]) < 2
