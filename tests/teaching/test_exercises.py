"""Every exercise's checker passes the reference solution, fails a wrong answer (and says why),
lets an unanswered exercise through quietly, and raises in strict mode (nbgrader)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import assert_checker_names_the_slip

from hashnet_lite.teaching import exercises as ex


def reference(name):
    """The reference answer as a learner would have it: exec'd from solution_source()."""
    namespace = {"np": np, "torch": torch, "F": F, "math": math, "nn": nn}
    exec(ex.solution_source(name), namespace)
    return namespace[ex.EXERCISES[name].defines]


def unfinished(*args, **kwargs):
    raise NotImplementedError


# name -> {what the slip is: (wrong answer, a phrase the feedback must contain)}
WRONG = {
    "hamming_distance": {
        "equal bits": (lambda a, b: a.shape[1] - ex._reference_hamming_distance(a, b), "agree"),
        "inner product": (lambda a, b: a.astype(float) @ b.T, "inner product"),
        "twice": (lambda a, b: np.abs(a[:, None, :] - b[None, :, :]).sum(2), "twice"),
        "transposed": (lambda a, b: ex._reference_hamming_distance(b, a), "transposed"),
        "off by one": (lambda a, b: ex._reference_hamming_distance(a, b) + 1, "expected"),
    },
    "average_precision": {
        "all relevant": (lambda rel, topk=None: (lambda r, k: (np.cumsum(r[:k]) / np.arange(1, len(r[:k]) + 1))[
            r[:k]].sum() / max(1, r.sum()))(np.array(rel, bool), topk), "divided by all"),
        "every rank": (lambda rel, topk=None: float(np.mean(np.cumsum(rel[:topk]) / np.arange(1, len(rel[:topk]) + 1))),
                       "every rank"),
        "ignores R": (lambda rel, topk=None: ex._reference_average_precision(rel, None), "the top R"),
        "NaN when empty": (lambda rel, topk=None: ex._reference_average_precision(rel, topk)
                           if any(rel[:topk]) else float("nan"), "AP 0"),
    },
    "straight_through_backward": {
        "sign's gradient": (lambda z, g: np.zeros_like(z), "sign's true derivative"),
        "no chain rule": (lambda z, g: (np.abs(z) <= 1).astype(float), "incoming gradient"),
        "identity": (lambda z, g: g, "stops it where"),
        "strict boundary": (lambda z, g: g * (np.abs(z) < 1), "|z| = 1"),
        "tanh": (lambda z, g: g * (1 - np.tanh(z) ** 2), "tanh's derivative"),
    },
    "vanishing_beta": {"too low": (5.9, "go higher"), "not the smallest": (6.1, "go lower")},
    "beta_schedule": {
        "smooth": (lambda step, beta0=1.0, gamma=0.005, power=0.5, step_size=200: beta0 * (1 + gamma * step) ** power,
                   "round the step down"),
        "no beta0": (lambda step, beta0=1.0, gamma=0.005, power=0.5, step_size=200:
                     (1 + gamma * (step // step_size) * step_size) ** power, "beta0"),
        # equal to the right answer whenever beta0 = 1 or power = 1: caught by the case with both off
        "power over beta0 too": (lambda step, beta0=1.0, gamma=0.005, power=0.5, step_size=200:
                                 (beta0 * (1 + gamma * (step // step_size) * step_size)) ** power,
                                 "the power applies to (1 + gamma t) only"),
    },
    "smallest_gamma": {"t = 600, past the last step": (0.165, "0 to 599"), "too large": (0.19, "go lower")},
    "weighted_pairwise_loss": {
        "no weights": (lambda h, s, alpha: (F.softplus(alpha * (h @ h.T)) - s * (alpha * (h @ h.T)))[
            ~torch.eye(len(h), dtype=torch.bool)].mean(), "HashNet-W"),
        "overflow": (lambda h, s, alpha: ex._reference_weighted_pairwise_loss(h, s, alpha) if alpha < 5 else
                     torch.log(1 + torch.exp(alpha * h @ h.T)).sum(), "softplus"),
        "sign flipped": (lambda h, s, alpha: -ex._reference_weighted_pairwise_loss(h, s, alpha), "sign is flipped"),
    },
    "precision_within_radius": {
        "skip empty": (lambda d, rel, radius=2: np.nanmean([(r[x <= radius]).mean() if (x <= radius).any()
                                                            else np.nan for x, r in zip(d, rel)]), "left out"),
        "NaN": (lambda d, rel, radius=2: float(np.mean([(r[x <= radius]).mean() if (x <= radius).any() else np.nan
                                                        for x, r in zip(d, rel)])), "NaN"),
        "strict radius": (lambda d, rel, radius=2: ex._reference_precision_within_radius(d, rel, radius - 1)
                          if radius > 0 else ex._reference_precision_within_radius(d, rel, 0), "includes distance"),
    },
    "hadamard_centres": {
        "all ones": (lambda c, k: np.ones((c, k)), "equal"),
        "not pm 1": (lambda c, k: (ex._reference_hadamard_centres(c, k) + 1) / 2, "only -1 and +1"),
        "transposed": (lambda c, k: ex._reference_hadamard_centres(c, k).T, "shape"),
        "other order": (lambda c, k: ex._reference_hadamard_centres(c, k)[::-1], "order"),
    },
    "map_with_convention": {
        "ignores empty": (lambda rel, topk, empty="zero": ex._reference_map_with_convention(rel, topk, "zero"),
                          "the value of empty='zero'"),
        "swapped": (lambda rel, topk, empty="zero": ex._reference_map_with_convention(
            rel, topk, "skip" if empty == "zero" else "zero"), "the value of empty="),
    },
}


def test_every_exercise_is_listed_with_wrong_answers_and_a_lesson():
    # the wrong answers of lessons 08 and 09 are in test_capstone.py and test_own_data.py
    assert set(WRONG) == {name for name, e in ex.EXERCISES.items() if e.lesson not in ("08", "09")}
    assert {e.lesson for e in ex.EXERCISES.values()} == {"01", "02", "03", "04", "05", "06", "07", "08", "09"}


@pytest.mark.parametrize("name", sorted(ex.EXERCISES))
def test_the_reference_passes_also_in_strict_mode(name):
    feedback = ex.EXERCISES[name].check(reference(name), strict=True)
    assert feedback.passed and feedback.status == ex.PASS and str(feedback).startswith("\u2714")


@pytest.mark.parametrize("name, slip", [(n, s) for n in sorted(WRONG) for s in WRONG[n]])
def test_a_wrong_answer_fails_and_says_what_is_wrong(name, slip):
    assert_checker_names_the_slip(name, *WRONG[name][slip])


@pytest.mark.parametrize("name", sorted(ex.EXERCISES))
def test_an_unanswered_exercise_passes_quietly_but_not_in_strict_mode(name, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("HASHNET_LITE_STRICT", raising=False)
    check = ex.EXERCISES[name].check
    answers = [None] + ([unfinished, lambda *a, **k: None] if ex.EXERCISES[name].kind != "number" else [])
    for answer in answers:
        feedback = check(answer)  # no exception: the lesson runs on with the exercise open
        assert feedback.status == ex.OPEN and f"solution({name!r})" in feedback.message
        with pytest.raises(AssertionError, match="Not answered"):
            check(answer, strict=True)


@pytest.mark.parametrize("variable, value", [("NBGRADER_EXECUTION", "autograde"), ("NBGRADER_EXECUTION", "validate"),
                                             ("HASHNET_LITE_STRICT", "1")])
def test_nbgrader_turns_strict_mode_on(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    assert ex.strict_mode()
    with pytest.raises(AssertionError):
        ex.check_hamming_distance(unfinished)
    assert not ex.strict_mode(False)


def test_a_function_that_raises_is_wrong_not_unanswered():
    def broken(a, b):
        return a @ c  # noqa: F821

    feedback = ex.check_hamming_distance(broken)
    assert feedback.status == ex.WRONG and "NameError" in feedback.message


def test_a_gamma_that_reaches_beta_10_after_the_last_step_is_refused_and_0_18_accepted():
    # beta must reach 10 by the run's last step, 599: t = 550, gamma = 99 / 550 = 0.18
    assert not ex.check_smallest_gamma(0.165)
    assert ex.check_smallest_gamma(0.18)
    assert ex._reference_smallest_gamma() == 0.18


def test_hint_and_solution_print_and_unknown_names_are_refused(capsys):
    ex.hint("beta_schedule")
    ex.solution("beta_schedule")
    out = capsys.readouterr().out
    assert "step_size" in out and "def beta_schedule(step" in out
    with pytest.raises(ValueError, match="not an exercise"):
        ex.solution("nope")


def test_feedback_displays_as_its_message():
    feedback = ex.check_vanishing_beta(6.0)
    assert repr(feedback) == str(feedback) and "6" in repr(feedback) and bool(feedback)
