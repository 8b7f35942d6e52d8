"""The lessons' exercises: one checker per exercise, the reference solutions out of sight.

Each exercise asks the learner for a function (or, twice, a number). ``check_<name>(answer)``
tests the answer against the package on small cases and says what is wrong: the shape, the
sign, the value on a small case, or the slip it looks like (a forgotten weight, a transposed
matrix, an empty Hamming ball counted as NaN). An unanswered exercise passes quietly; under
nbgrader (strict mode) a wrong or missing answer raises (``checking`` says how).

A checker returns a ``Feedback``; in a notebook it displays as its message. Lesson 08's
checkers, where the learner builds HashNet from scratch, live in ``capstone``; they are
registered here with the others.
``hint(name)`` prints a hint and ``solution(name)`` the reference solution: nothing of the
solution is shown until it is asked for. ``EXERCISES`` lists every exercise by lesson.
"""
from __future__ import annotations

import inspect
import math
import textwrap
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import capstone, own_data
from .checking import (OPEN, PASS, WRONG, Feedback, _array, _call, _close, _number,  # noqa: F401
                       _Open, _run, _Wrong, strict_mode)


# ====================================================================== 01 Hamming space
def _codes(q: int, n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (np.where(rng.random((q, k)) < 0.5, -1, 1).astype(np.int8),
            np.where(rng.random((n, k)) < 0.5, -1, 1).astype(np.int8))


def _reference_hamming_distance(a, b):
    """(Q, N) Hamming distances between +-1 codes a (Q, K) and b (N, K)."""
    a_bits = np.packbits(np.asarray(a) > 0, axis=1)  # (Q, ceil(K/8)) uint8: +1 -> bit 1
    b_bits = np.packbits(np.asarray(b) > 0, axis=1)  # (N, ceil(K/8))
    differ = a_bits[:, None, :] ^ b_bits[None, :, :]  # (Q, N, bytes): XOR marks differing bits
    return np.unpackbits(differ, axis=2).sum(axis=2)  # popcount


def check_hamming_distance(hamming_distance, *, strict: bool | None = None) -> Feedback:
    """Checks ``hamming_distance(a, b)``: (Q, N) distances between +-1 codes (Q, K) and (N, K)."""
    name = "hamming_distance"

    def body():
        from ..retrieval import hamming_distance as package

        one = np.array([[1, -1, 1, 1, -1, -1, 1, -1]], np.int8), np.array([[1, 1, 1, -1, -1, -1, -1, -1]], np.int8)
        cases = [("the two 8-bit codes of section 2", *one), ("2 queries x 3 items, 5 bits", *_codes(2, 3, 5, 1)),
                 ("4 queries x 6 items, 70 bits (not a multiple of 8)", *_codes(4, 6, 70, 2))]
        for what, a, b in cases:
            expected = package(a, b).astype(np.float64)
            got = _array(name, _call(name, hamming_distance, a.copy(), b.copy()), expected.shape,
                         "one row per query, one column per database item")
            if _close(got, expected):
                continue
            k = a.shape[1]
            inner = a.astype(np.float64) @ b.T
            if _close(got, k - expected):
                raise _Wrong(f"on {what} you counted the bits that agree (K - d); count those that differ.")
            if _close(got, inner):
                raise _Wrong(f"on {what} you returned the inner product <b, b'>; the distance is (K - <b, b'>) / 2.")
            if _close(got, 2 * expected):
                raise _Wrong(f"on {what} your distances are twice the right ones: with +-1 codes, b - b' is "
                             "+-2 where two codes differ.")
            raise _Wrong(f"on {what}: you returned {np.array2string(got[:2, :3])}, expected "
                         f"{np.array2string(expected[:2, :3])} (first rows and columns).")
        return "your distances match retrieval.hamming_distance on all three cases, including 70-bit codes."

    return _run(name, body, strict)


def _reference_average_precision(relevant, topk=None):
    """AP@topk of one ranked list: ``relevant`` 0/1 in rank order; topk None = the whole list."""
    rel = np.asarray(relevant, dtype=bool)[:topk]  # keep the top R
    hits = np.cumsum(rel)  # relevant items in the top k, k = 1..R
    precision_at_hits = hits[rel] / (np.flatnonzero(rel) + 1)  # precision at each relevant rank
    return float(precision_at_hits.mean()) if rel.any() else 0.0  # no relevant item in the top R: AP 0


# The ranking of section 4: A C E F H are relevant (class 0).
LESSON_RANKING = (1, 0, 1, 0, 1, 1, 0, 1)


def check_average_precision(average_precision, *, strict: bool | None = None) -> Feedback:
    """Checks ``average_precision(relevant, topk=None)``: AP@R of one ranked 0/1 list."""
    name = "average_precision"

    def body():
        from ..retrieval.reference import ap_at_r

        ranking = list(LESSON_RANKING)
        cases = [(ranking, None, "the ranking of section 4, R = all"), (ranking, 5, "the same ranking at R = 5"),
                 (ranking, 1, "the same ranking at R = 1"), ([0, 1, 1, 0, 1, 0, 0, 1], 4, "0 1 1 0 | 1 0 0 1 at R = 4"),
                 ([0, 0, 1, 1], 2, "0 0 | 1 1 at R = 2, no relevant item in the top 2")]
        for rel, topk, what in cases:
            expected = ap_at_r(np.array(rel), topk)[0]
            got = _call(name, average_precision, list(rel), topk)
            got = _number(name, got)
            if math.isnan(got):
                raise _Wrong(f"on {what} you returned NaN. With no relevant item in the top R there is nothing to "
                             "average: this package counts that query as AP 0 (the convention empty='zero').")
            if math.isclose(got, expected, abs_tol=1e-9):
                continue
            kept = np.array(rel[:topk], dtype=bool)
            hits = np.cumsum(kept)
            precisions = hits / np.arange(1, len(kept) + 1)
            if kept.any() and math.isclose(got, precisions[kept].sum() / sum(rel), abs_tol=1e-9) and sum(rel) != kept.sum():
                raise _Wrong(f"on {what} you divided by all {sum(rel)} relevant items of the list; AP@R divides by "
                             f"the relevant items in the top R ({int(kept.sum())} here).")
            if math.isclose(got, precisions.mean(), abs_tol=1e-9):
                raise _Wrong(f"on {what} you averaged the precision at every rank; average it only at the ranks "
                             "that hold a relevant item.")
            if topk is not None and math.isclose(got, ap_at_r(np.array(rel), None)[0], abs_tol=1e-9):
                raise _Wrong(f"on {what} you returned AP over the whole list: keep only the top R = {topk} first.")
            raise _Wrong(f"on {what} you returned {got:.4f}; expected {expected:.4f}.")
        return "AP@R right on all five rankings, including one with nothing relevant in its top R."

    return _run(name, body, strict)


# ================================================================ 02 the ill-posed gradient
def _reference_straight_through_backward(z, grad_output):
    """The clipped straight-through estimator's backward pass: dL/dz from dL/db, b = sign(z)."""
    z = np.asarray(z, dtype=np.float64)
    return np.asarray(grad_output, dtype=np.float64) * (np.abs(z) <= 1)  # hardtanh's derivative


def check_straight_through_backward(straight_through_backward, *, strict: bool | None = None) -> Feedback:
    """Checks ``straight_through_backward(z, grad_output)`` against the package's autograd Function."""
    name = "straight_through_backward"

    def body():
        from .gradients import straight_through_sign

        rng = np.random.default_rng(0)
        z_line = np.linspace(-1.5, 1.5, 7)
        cases = [("z = -1.5 .. 1.5 (7 values), an incoming gradient of ones", z_line, np.ones(7)),
                 ("the same z, an incoming gradient of 3", z_line, np.full(7, 3.0)),
                 ("a (4, 5) batch of z, a random incoming gradient", rng.normal(0, 1, (4, 5)), rng.normal(0, 1, (4, 5)))]
        for what, z, g in cases:
            zt = torch.tensor(z, requires_grad=True)
            straight_through_sign(zt).backward(torch.tensor(g))
            expected = zt.grad.numpy()
            got = _array(name, _call(name, straight_through_backward, z.copy(), g.copy()), expected.shape,
                         "one gradient per value of z")
            if _close(got, expected):
                continue
            if _close(got, np.zeros_like(expected)):
                raise _Wrong(f"on {what} you returned zeros: that is sign's true derivative, the one that trains "
                             "nothing. The straight-through estimator pretends the forward pass was hardtanh(z).")
            if _close(got, (np.abs(z) <= 1).astype(float)) and not _close(g, np.ones_like(g)):
                raise _Wrong(f"on {what} you returned hardtanh's derivative alone: multiply it by the incoming "
                             "gradient (the chain rule).")
            if _close(got, g):
                raise _Wrong(f"on {what} you passed every gradient through: the clipped estimator stops it where "
                             "|z| > 1.")
            if _close(got, g * (np.abs(z) < 1)):
                raise _Wrong(f"on {what} you stopped the gradient at |z| = 1 exactly; hardtanh(z) = clamp(z, -1, 1) "
                             "passes it there (|z| <= 1), as the package does.")
            if _close(got, g * (1 - np.tanh(z) ** 2)):
                raise _Wrong(f"on {what} you returned tanh's derivative; the straight-through estimator uses "
                             "hardtanh's: 1 where |z| <= 1, else 0.")
            raise _Wrong(f"on {what} you returned {np.array2string(got.ravel()[:7], precision=3)}, expected "
                         f"{np.array2string(expected.ravel()[:7], precision=3)}.")
        return "your backward pass matches the package's straight_through_sign, including at |z| = 1."

    return _run(name, body, strict)


def _reference_vanishing_beta():
    """The smallest beta (one decimal) with d/dz tanh(beta z) at z = 0.5 below 1% of its peak beta."""
    exact = math.atanh(math.sqrt(0.99)) / 0.5  # 1 - tanh^2(0.5 beta) = 0.01 at beta = 5.987
    return math.ceil(exact * 10) / 10  # round up to one decimal: 6.0


def check_vanishing_beta(my_beta, *, strict: bool | None = None) -> Feedback:
    """Checks a number: the smallest beta (to one decimal) at which d/dz tanh(beta z) at z = 0.5
    is below 1% of its peak value beta."""
    name = "vanishing_beta"

    def body():
        from .gradients import tanh_grad

        if my_beta is None:
            raise _Open("set `my_beta` to a number and run this cell again.")
        beta = _number(name, my_beta)

        def vanished(b):
            return b > 0 and tanh_grad(0.5, b) < 0.01 * b

        if not vanished(beta):
            ratio = tanh_grad(0.5, beta) / beta if beta > 0 else float("nan")
            raise _Wrong(f"at beta = {beta:g} the derivative at z = 0.5 is still {100 * ratio:.1f}% of its peak: "
                         "go higher.")
        if vanished(round(beta - 0.1, 1)):
            raise _Wrong(f"at beta = {beta:g} the gradient has vanished, but it already had at {beta - 0.1:.1f}: "
                         "go lower.")
        return (f"beta = {beta:g}. Exactly: 1 - tanh^2(beta / 2) = 0.01 at beta = 2 artanh(sqrt(0.99)) = "
                f"{2 * math.atanh(math.sqrt(0.99)):.3f}, i.e. |beta z| = 2.99.")

    return _run(name, body, strict)


# ======================================================================= 03 continuation
def _reference_beta_schedule(step, beta0=1.0, gamma=0.005, power=0.5, step_size=200):
    """The authors' schedule: beta0 (1 + gamma t)^power, t = step rounded down to a multiple of step_size."""
    t = (step // step_size) * step_size  # beta is recomputed every step_size steps
    return beta0 * (1 + gamma * t) ** power


def check_beta_schedule(beta_schedule, *, strict: bool | None = None) -> Feedback:
    """Checks ``beta_schedule(step, beta0, gamma, power, step_size)`` against continuation.authors_beta."""
    name = "beta_schedule"

    def body():
        from ..continuation import authors_beta

        settings = [("the paper's settings (gamma 0.005, power 0.5, step size 200)", dict(beta0=1.0, gamma=0.005, power=0.5, step_size=200),
                     (0, 1, 199, 200, 201, 1000, 9999, 10_000)),
                    ("the digits preset (gamma 0.02, step size 50)", dict(beta0=1.0, gamma=0.02, power=0.5, step_size=50),
                     (0, 49, 50, 99, 550, 599, 600)),
                    ("beta0 = 2, power 1, step size 1", dict(beta0=2.0, gamma=0.1, power=1.0, step_size=1), (0, 1, 7)),
                    ("beta0 = 2, power 1.5, step size 10", dict(beta0=2.0, gamma=0.1, power=1.5, step_size=10),
                     (0, 9, 10, 25))]
        for what, kw, steps in settings:
            for step in steps:
                expected = authors_beta(step, **kw)
                got = _number(name, _call(name, beta_schedule, step, **kw))
                if math.isclose(got, expected, rel_tol=1e-9):
                    continue
                smooth = kw["beta0"] * (1 + kw["gamma"] * step) ** kw["power"]
                if math.isclose(got, smooth, rel_tol=1e-9):
                    raise _Wrong(f"with {what}, at step {step} you returned {got:.4f}, the smooth curve. The authors' "
                                 f"code recomputes beta only every {kw['step_size']} steps: round the step down to a "
                                 f"multiple of step_size first (t = {(step // kw['step_size']) * kw['step_size']}), "
                                 f"which gives {expected:.4f}.")
                if math.isclose(got, expected / kw["beta0"], rel_tol=1e-9) and kw["beta0"] != 1:
                    raise _Wrong(f"with {what}, at step {step}: you left out the factor beta0.")
                t = (step // kw["step_size"]) * kw["step_size"]
                if math.isclose(got, (kw["beta0"] * (1 + kw["gamma"] * t)) ** kw["power"], rel_tol=1e-9):
                    raise _Wrong(f"with {what}, at step {step}: the power applies to (1 + gamma t) only: "
                                 "beta0 * (1 + gamma * t) ** power, not (beta0 * (1 + gamma * t)) ** power.")
                raise _Wrong(f"with {what}, at step {step} you returned {got:.4f}; expected {expected:.4f}.")
        return ("your schedule matches continuation.authors_beta at every step tried, staircase included, and with "
                "beta0 = 2 and power 1.5 together.")

    return _run(name, body, strict)


LAST_STEP = 599  # a 600-step run takes steps 0 .. 599


def _reference_smallest_gamma():
    """The smallest gamma (two decimals) for which a 600-step run (steps 0..599, step size 50)
    reaches beta >= 10: beta at step 599 is computed at t = 550, so gamma >= (10^2 - 1) / 550."""
    t = (599 // 50) * 50  # the last step is 599 (steps count from 0): t = 550
    return math.ceil((10 ** 2 - 1) / t * 100 - 1e-9) / 100  # (1 + gamma t)^0.5 >= 10, rounded up: 0.18


def check_smallest_gamma(my_gamma, *, strict: bool | None = None) -> Feedback:
    """Checks a number: the smallest gamma (two decimals) with which the authors' schedule
    (beta0 1, power 0.5, step size 50) reaches beta >= 10 within a 600-step run."""
    name = "smallest_gamma"

    def body():
        from ..continuation import authors_beta

        if my_gamma is None:
            raise _Open("set `my_gamma` to a number and run this cell again.")
        gamma = _number(name, my_gamma)

        def final(g):
            return authors_beta(LAST_STEP, gamma=g, power=0.5, step_size=50)

        if gamma <= 0 or final(gamma) < 10 - 1e-9:
            reached = final(gamma) if gamma > 0 else 1.0
            hint = (" Steps are numbered 0 to 599, so the last recomputation happens at t = 550, not 600."
                    if gamma > 0 and authors_beta(600, gamma=gamma, power=0.5, step_size=50) >= 10 - 1e-9 else "")
            raise _Wrong(f"with gamma = {gamma:g}, beta reaches only {reached:.2f} at the run's last step (599): "
                         f"increase gamma.{hint}")
        if final(round(gamma - 0.01, 2)) >= 10 - 1e-9:
            raise _Wrong(f"gamma = {gamma:g} gets there, but so does {gamma - 0.01:.2f}: go lower.")
        return (f"gamma = {gamma:g}: beta at step 599 is computed at t = 550 and is {final(gamma):.2f}. "
                "The exact bound is (10^2 - 1) / 550 = 0.18.")

    return _run(name, body, strict)


# ================================================================ 04 the weighted likelihood
def _reference_weighted_pairwise_loss(h, s, alpha):
    """Eq. 4-5: sum_{i != j} w_ij (log(1 + e^theta_ij) - s_ij theta_ij) / sum_{i != j} w_ij."""
    theta = alpha * h @ h.T  # (B, B)
    nll = F.softplus(theta) - s * theta  # Eq. 4; softplus(x) = log(1 + e^x) without overflow
    pairs = ~torch.eye(len(h), dtype=torch.bool)  # i != j
    similar = (s > 0) & pairs
    n_all, n_sim = pairs.sum(), similar.sum()
    w_sim = n_all / n_sim.clamp(min=1)  # |S| / |S1|
    w_dis = n_all / (n_all - n_sim).clamp(min=1)  # |S| / |S0|
    w = torch.where(s > 0, w_sim, w_dis) * pairs  # Eq. 5's weights, 0 on the diagonal
    return (w * nll).sum() / w.sum()


def _loss_cases():
    from ..loss import similarity

    g = torch.Generator().manual_seed(0)
    labels_a = torch.tensor([0, 0, 1, 1, 1, 2])  # the batch of section 1
    h_a = torch.tanh(torch.randn(6, 8, generator=g, dtype=torch.float64))
    labels_b = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    h_b = torch.tanh(2 * torch.randn(5, 16, generator=g, dtype=torch.float64))
    labels_c = torch.arange(12) % 4
    h_c = torch.where(torch.randn(12, 100, generator=g, dtype=torch.float64) > 0, 1.0, -1.0)
    return [("the 6-item batch of section 1 (alpha = 10 / 8)", h_a, labels_a, 10 / 8),
            ("5 multi-label items, 16 bits (alpha = 10 / 16)", h_b, labels_b, 10 / 16),
            ("12 items with +-1 codes of 100 bits and alpha = 10, so theta reaches 1000", h_c, labels_c, 10.0)], similarity


def check_weighted_pairwise_loss(weighted_pairwise_loss, *, strict: bool | None = None) -> Feedback:
    """Checks ``weighted_pairwise_loss(h, s, alpha)`` against loss.pairwise_likelihood_loss (weighting "paper")."""
    name = "weighted_pairwise_loss"

    def body():
        from ..loss import pairwise_likelihood_loss

        cases, similarity = _loss_cases()
        for what, h, labels, alpha in cases:
            s = similarity(labels).to(torch.float64)
            expected = float(pairwise_likelihood_loss(h, labels, alpha=alpha, weighting="paper"))
            got = _number(name, _call(name, weighted_pairwise_loss, h.clone(), s.clone(), alpha))
            if math.isclose(got, expected, rel_tol=1e-6):
                continue
            capstone.name_the_loss_slip(got, expected, capstone.loss_slips(h, s, alpha), what)
        return "your loss matches loss.pairwise_likelihood_loss on all three batches, theta = 1000 included."

    return _run(name, body, strict)


# ============================================================= 05 train and retrieve
def _reference_precision_within_radius(distances, relevant, radius=2):
    """Mean over queries of the precision of the items within Hamming distance ``radius``
    (d <= radius); a query whose ball is empty counts precision 0."""
    inside = np.asarray(distances) <= radius  # (Q, N): the Hamming ball of each query
    found = inside.sum(axis=1)  # items retrieved per query
    hits = (inside & np.asarray(relevant, dtype=bool)).sum(axis=1)  # relevant ones among them
    precision = np.divide(hits, found, out=np.zeros(len(found)), where=found > 0)  # empty ball: 0
    return float(precision.mean())


def check_precision_within_radius(precision_within_radius, *, strict: bool | None = None) -> Feedback:
    """Checks ``precision_within_radius(distances, relevant, radius=2)`` against retrieval.precision_within_radius."""
    name = "precision_within_radius"

    def body():
        from ..retrieval import hamming_distance
        from ..retrieval import precision_within_radius as package

        rng = np.random.default_rng(3)
        q, d = _codes(6, 40, 8, 5)
        d[:10] = q[0] * np.where(rng.random((10, 8)) < 0.1, -1, 1)  # items near query 0
        yq, yd = np.arange(6) % 3, rng.integers(0, 3, 40)
        cases = [("6 queries, 40 items, 8 bits", q, d, yq, yd, 2), ("the same at radius 0", q, d, yq, yd, 0),
                 ("the same at radius 3", q, d, yq, yd, 3)]
        for what, qc, dc, ql, dl, radius in cases:
            dist = hamming_distance(qc, dc)
            rel = ql[:, None] == dl[None, :]
            expected = package(qc, dc, ql, dl, r=radius)
            got = _number(name, _call(name, precision_within_radius, dist.copy(), rel.copy(), radius))
            if math.isclose(got, expected, abs_tol=1e-9):
                continue
            found = (dist <= radius).sum(1)
            if math.isnan(got):
                raise _Wrong(f"on {what} you returned NaN: {int((found == 0).sum())} of the {len(found)} queries "
                             "find nothing in their ball (0 / 0). Count such a query as precision 0.")
            skip = package(qc, dc, ql, dl, r=radius, empty="skip")
            if math.isclose(got, skip, abs_tol=1e-9):
                raise _Wrong(f"on {what} you left out the {int((found == 0).sum())} queries whose ball is empty. "
                             "The paper's Fig. 2 and this package count them as precision 0: that is why the "
                             "precision falls when long codes leave the balls empty.")
            if radius > 0 and math.isclose(got, package(qc, dc, ql, dl, r=radius - 1), abs_tol=1e-9):
                raise _Wrong(f"on {what} you kept d < {radius}; the ball of radius {radius} includes distance {radius}.")
            inside = dist <= radius
            pooled = (inside & rel).sum() / max(1, inside.sum())
            if math.isclose(got, pooled, abs_tol=1e-9):
                raise _Wrong(f"on {what} you pooled all queries' items; take each query's precision first, then "
                             "the mean over queries.")
            raise _Wrong(f"on {what} you returned {got:.4f}; expected {expected:.4f}.")
        return "your precision matches retrieval.precision_within_radius at radii 0, 2 and 3, empty balls included."

    return _run(name, body, strict)


# ========================================================== 06 reproduce the paper
def _reference_map_with_convention(relevance, topk, empty="zero"):
    """mAP@topk of rankings ``relevance`` (Q, N) 0/1, each row in rank order. A query with no
    relevant item in its top R counts AP 0 (empty="zero") or is left out (empty="skip")."""
    aps = []
    for row in np.asarray(relevance, dtype=bool):
        kept = row[:topk]
        if not kept.any():
            if empty == "zero":
                aps.append(0.0)
            continue  # "skip": not in the mean
        precision = np.cumsum(kept) / np.arange(1, len(kept) + 1)
        aps.append(float(precision[kept].mean()))
    return float(np.mean(aps)) if aps else float("nan")


def check_map_with_convention(map_with_convention, *, strict: bool | None = None) -> Feedback:
    """Checks ``map_with_convention(relevance, topk, empty)`` for empty = "zero" and "skip"."""
    name = "map_with_convention"

    def body():
        from ..retrieval.reference import ap_at_r

        rankings = np.array([[1, 0, 1, 0, 0, 1], [0, 0, 0, 1, 1, 0], [0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]])
        for topk in (3, None):
            for empty in ("zero", "skip"):
                what = f"the four rankings of the exercise at R = {'all' if topk is None else topk}, empty={empty!r}"
                aps = [ap_at_r(r, topk) for r in rankings]
                kept = [ap for ap, n in aps if n > 0 or empty == "zero"]
                expected = float(np.mean(kept))
                got = _number(name, _call(name, map_with_convention, rankings.copy(), topk, empty))
                if math.isclose(got, expected, abs_tol=1e-9):
                    continue
                other = "skip" if empty == "zero" else "zero"
                other_value = float(np.mean([ap for ap, n in aps if n > 0 or other == "zero"]))
                if math.isclose(got, other_value, abs_tol=1e-9) and not math.isclose(other_value, expected):
                    raise _Wrong(f"on {what} you returned {got:.4f}, the value of empty={other!r}. With 'zero' a query "
                                 "with nothing relevant in its top R counts AP 0; with 'skip' it leaves the mean.")
                raise _Wrong(f"on {what} you returned {got:.4f}; expected {expected:.4f}.")
        return ("right under both conventions. At R = 3 two of the four queries find nothing relevant: 'skip' "
                "drops them and reports a higher number from the same ranking.")

    return _run(name, body, strict)


# ====================================================================== 07 HashNet among its peers
def _reference_hadamard_centres(num_classes, bits):
    """CSQ's centres for num_classes <= 2 * bits, bits a power of 2: rows of [H; -H], H the
    Sylvester Hadamard matrix of size bits (H_1 = [[1]], H_2n = [[H_n, H_n], [H_n, -H_n]])."""
    h = np.ones((1, 1))
    while h.shape[0] < bits:
        h = np.block([[h, h], [h, -h]])  # doubles the size; rows stay orthogonal
    return np.concatenate([h, -h])[:num_classes]


def check_hadamard_centres(hadamard_centres, *, strict: bool | None = None) -> Feedback:
    """Checks ``hadamard_centres(num_classes, bits)`` against deep_baselines.hash_centres: the
    shape, values +-1, and every pair of centres K/2 bits apart (K for a row and its negation)."""
    from ..deep_baselines import hash_centres

    name = "hadamard_centres"

    def body():
        for c, k in ((2, 1), (4, 2), (10, 16), (10, 32), (64, 32)):
            out = _array(name, _call(name, hadamard_centres, c, k), (c, k), f"{c} centres of {k} bits")
            if not np.isin(out, (-1.0, 1.0)).all():
                raise _Wrong(f"with {c} classes and {k} bits your centres hold {sorted(set(out.ravel()))[:4]}; "
                             "expected only -1 and +1.")
            expected = hash_centres(c, k).numpy()
            if np.array_equal(out, expected):
                continue
            distance = (k - out @ out.T) / 2  # Hamming distances between centres
            off = ~np.eye(c, dtype=bool)
            if (distance[off] == 0).any():
                raise _Wrong(f"with {c} classes and {k} bits two of your centres are equal: two classes would "
                             "share a code. Rows of H are all different, and -H adds the negated rows.")
            if c <= k and not (distance[off] == k / 2).all():
                raise _Wrong(f"with {c} classes and {k} bits your centres are {sorted(set(distance[off]))} bits "
                             f"apart; Hadamard rows are exactly K/2 = {k // 2} bits apart.")
            raise _Wrong(f"with {c} classes and {k} bits your centres are valid but not in the package's order "
                         "(Sylvester's construction, then the negated rows): compare with "
                         "deep_baselines.hash_centres.")
        return ("your centres match deep_baselines.hash_centres: every two classes are K/2 bits apart, a class "
                "and its negation K bits.")

    return _run(name, body, strict)


# ======================================================================== the registry
@dataclass(frozen=True)
class Exercise:
    name: str
    lesson: str
    kind: str  # "function" or "class" (the learner writes one) or "number"
    check: Callable
    reference: Callable
    hint: str
    answer: str = ""  # the name the learner defines, when it is not ``name`` (a class: HashModel)

    @property
    def defines(self) -> str:
        """The name the learner's answer defines: ``answer``, or ``name`` for a function,
        ``my_<last word>`` for a number."""
        if self.answer:
            return self.answer
        return self.name if self.kind != "number" else "my_" + self.name.split("_")[-1]


EXERCISES = {e.name: e for e in [
    Exercise("hamming_distance", "01", "function", check_hamming_distance, _reference_hamming_distance,
             "np.packbits(codes > 0, axis=1) packs +-1 codes into bytes, one bit per bit. XOR (^) two packed rows "
             "marks the bits that differ; np.unpackbits(...).sum() counts them (the popcount). Broadcast "
             "a[:, None, :] ^ b[None, :, :] to get every query against every item."),
    Exercise("average_precision", "01", "function", check_average_precision, _reference_average_precision,
             "Cut the list to its top R (relevant[:topk]; topk=None keeps it all). np.cumsum gives the hits in the "
             "top k; divide by k for the precision at every rank, then average it over the relevant ranks only. "
             "No relevant item in the top R: return 0.0."),
    Exercise("straight_through_backward", "02", "function", check_straight_through_backward,
             _reference_straight_through_backward,
             "The backward pass pretends the forward pass was hardtanh(z) = clamp(z, -1, 1), whose derivative is 1 "
             "where |z| <= 1 and 0 elsewhere. The chain rule multiplies that by the incoming gradient grad_output."),
    Exercise("vanishing_beta", "02", "number", check_vanishing_beta, _reference_vanishing_beta,
             "The derivative is beta (1 - tanh^2(beta z)); divided by its peak beta it is 1 - tanh^2(beta / 2) at "
             "z = 0.5. Solve 1 - tanh^2(x) = 0.01 for x, or try gradients.tanh_grad(0.5, beta) / beta for a few beta."),
    Exercise("beta_schedule", "03", "function", check_beta_schedule, _reference_beta_schedule,
             "Round the step down to a multiple of step_size first: t = (step // step_size) * step_size. Then "
             "beta = beta0 * (1 + gamma * t) ** power."),
    Exercise("smallest_gamma", "03", "number", check_smallest_gamma, _reference_smallest_gamma,
             "A 600-step run takes steps 0 to 599. At step 599, t = (599 // 50) * 50 = 550. Solve "
             "(1 + gamma * 550) ** 0.5 >= 10 and round up to two decimals."),
    Exercise("weighted_pairwise_loss", "04", "function", check_weighted_pairwise_loss,
             _reference_weighted_pairwise_loss,
             "theta = alpha * h @ h.T; the pair's loss is softplus(theta) - s * theta. Keep the pairs i != j "
             "(~torch.eye(B, dtype=torch.bool)); count |S|, |S1| (similar) and |S0| (dissimilar) among them; weight "
             "similar pairs |S| / |S1| and dissimilar ones |S| / |S0|; return sum(w * loss) / sum(w)."),
    Exercise("precision_within_radius", "05", "function", check_precision_within_radius,
             _reference_precision_within_radius,
             "inside = distances <= radius is each query's Hamming ball. Per query: relevant items inside / all items "
             "inside, with 0 when the ball is empty (np.divide(..., out=np.zeros(Q), where=found > 0)). Then the "
             "mean over queries."),
    Exercise("map_with_convention", "06", "function", check_map_with_convention, _reference_map_with_convention,
             "Per row: keep row[:topk]; if nothing relevant is left, append 0.0 for 'zero' and nothing for 'skip'; "
             "else append the mean precision at the relevant ranks (exercise 01). Return the mean of the list."),
    Exercise("hadamard_centres", "07", "function", check_hadamard_centres, _reference_hadamard_centres,
             "Start from h = np.ones((1, 1)). While h has fewer than `bits` rows, h = np.block([[h, h], [h, -h]]). "
             "Then np.concatenate([h, -h]) holds 2 * bits centres; return its first num_classes rows."),
    Exercise("hash_model", "08", "class", capstone.check_hash_model, capstone._ReferenceHashModel,
             "In __init__: keep self.backbone = backbone; self.hash_layer = nn.Linear(feature_dim, bits), then "
             "nn.init.normal_(self.hash_layer.weight, std=0.01) and nn.init.zeros_(self.hash_layer.bias). forward: "
             "z = self.hash_layer(self.backbone(x)), return torch.tanh(beta * z). codes: the same z, then "
             "torch.where(z >= 0, 1, -1) (torch.sign would give 0 at z = 0).", answer="HashModel"),
    Exercise("hashnet_loss", "08", "function", capstone.check_hashnet_loss, capstone._reference_hashnet_loss,
             "s = (y @ y.T > 0) marks the pairs that share a label. Then as in lesson 04: theta = alpha * h @ h.T, "
             "the pair's loss F.softplus(theta) - s * theta, the pairs i != j only (~torch.eye(B, dtype=torch.bool)), "
             "weights |S| / |S1| for similar pairs and |S| / |S0| for dissimilar ones, sum(w * loss) / sum(w)."),
    Exercise("beta_at_step", "08", "function", capstone.check_beta_at_step, capstone._reference_beta_at_step,
             "t = (step // config.step_size) * config.step_size, then config.beta0 * (1 + config.gamma * t) ** "
             "config.power: the power applies to (1 + gamma t) only, beta0 multiplies the result."),
    Exercise("train_loop", "08", "function", capstone.check_train_loop, capstone._reference_train_loop,
             "torch.optim.SGD takes a list of parameter groups: [{'params': model.backbone.parameters(), 'lr': "
             "config.lr}, {'params': model.hash_layer.parameters(), 'lr': config.lr * config.hash_lr_mult}], and "
             "momentum=config.momentum, weight_decay=config.weight_decay. alpha = 10 / config.bits. For step, "
             "(x, y) in enumerate(batches): h = model(x, beta_fn(step, config)); loss = loss_fn(h, y, alpha); "
             "zero_grad, backward, step; keep loss.item()."),
    Exercise("write_npz", "09", "function", own_data.check_write_npz, own_data._reference_write_npz,
             "rng = np.random.default_rng(seed). For each class c: items = rng.permutation(np.flatnonzero(y == c)); "
             "the first query_per_class are queries, the next train_per_class training items. The database is "
             "np.setdiff1d(np.arange(len(y)), query). np.savez(path, x_train=x[train], y_train=y[train], ...) with "
             "the six keys x_/y_ train, query, database; return path."),
    Exercise("protocol_report", "09", "function", own_data.check_protocol_report, own_data._reference_protocol_report,
             "np.load(codes_path) holds query_codes, database_codes, query_labels, database_labels. "
             "hashnet_lite.average_precisions(..., topk=topk, empty=empty) gives one AP per query, NaN for a query "
             "that 'skip' leaves out. The mAP is the mean of the others; 'queries' is how many there are; the "
             "package breaks ties by index ('index')."),
]}


def _exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise ValueError(f"name={name!r} is not an exercise: expected one of {sorted(EXERCISES)}")
    return EXERCISES[name]


def hint(name: str) -> None:
    """Print the hint of exercise ``name``."""
    print(textwrap.fill(_exercise(name).hint, 100))


def solution_source(name: str) -> str:
    """The reference solution of exercise ``name`` as source code, under the learner's name
    (a function definition, or for a number exercise the code that computes it)."""
    exercise = _exercise(name)
    source = inspect.getsource(exercise.reference)
    if exercise.kind == "number":
        body = source.split('"""', 2)[2] if '"""' in source else source.split(":", 1)[1]
        body = textwrap.dedent(body.strip("\n")).replace("return ", f"{exercise.defines} = ", 1)
        return f"import math\n{body}\n" if "math." in body else body + "\n"
    keyword = "class" if exercise.kind == "class" else "def"
    return source.replace(f"{keyword} {exercise.reference.__name__}(", f"{keyword} {exercise.defines}(", 1)


def solution(name: str) -> None:
    """Print the reference solution of exercise ``name``: only when the learner asks for it."""
    print(solution_source(name))
