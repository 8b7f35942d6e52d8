"""Continuation schedules (paper Sec. 3.3) against their formulas."""
from __future__ import annotations

import dataclasses
import math

import pytest

from hashnet_lite.config import TrainConfig
from hashnet_lite.continuation import authors_beta, beta_at, staircase_beta


def _authors_formula(step, beta0=1.0, gamma=0.005, power=0.5, step_size=200):
    t = step - step % step_size  # floored to a multiple of step_size
    return beta0 * (1.0 + gamma * t) ** power


@pytest.mark.parametrize("step", [0, 1, 199, 200, 201, 399, 400, 1234, 9_999, 10_000, 25_003])
def test_authors_beta_matches_formula_with_defaults(step):
    assert authors_beta(step) == pytest.approx(_authors_formula(step), rel=1e-12)


def test_authors_beta_known_values():
    assert authors_beta(0) == 1.0
    assert authors_beta(10_000) == pytest.approx(math.sqrt(51.0), rel=1e-12)  # ~7.14
    assert 7.0 < authors_beta(10_000) < 7.2
    assert authors_beta(200) == pytest.approx(math.sqrt(2.0), rel=1e-12)


@pytest.mark.parametrize("kw", [dict(beta0=2.0, gamma=0.01, power=1.0, step_size=7),
                                dict(beta0=0.5, gamma=0.1, power=0.25, step_size=1)])
def test_authors_beta_matches_formula_with_other_parameters(kw):
    for step in range(0, 100):
        assert authors_beta(step, **kw) == pytest.approx(_authors_formula(step, **kw), rel=1e-12)


def test_authors_beta_is_constant_within_a_block_and_monotone():
    values = [authors_beta(s) for s in range(0, 2001)]
    for block in range(10):
        chunk = values[block * 200:(block + 1) * 200]
        assert len(set(chunk)) == 1, f"beta changes inside block {block}"
    assert all(b >= a for a, b in zip(values, values[1:]))
    # ... and it does change at every block boundary
    assert all(values[k * 200] > values[k * 200 - 1] for k in range(1, 11))


def test_staircase_beta_formula():
    for epoch in range(0, 130):
        assert staircase_beta(epoch) == pytest.approx((epoch // 20 + 1) ** 0.5, rel=1e-12)
    assert staircase_beta(19) == 1.0 and staircase_beta(20) == pytest.approx(math.sqrt(2))
    assert staircase_beta(25, epoch_step=5) == pytest.approx(math.sqrt(6))


@pytest.mark.parametrize("fn", [authors_beta, staircase_beta])
def test_negative_step_is_an_error(fn):
    with pytest.raises(ValueError, match="-1"):
        fn(-1)


def test_beta_at_dispatches_authors():
    cfg = TrainConfig(schedule="authors", beta0=1.5, gamma=0.02, power=0.7, step_size=30)
    for step in [0, 29, 30, 31, 95, 1000]:
        expected = _authors_formula(step, beta0=1.5, gamma=0.02, power=0.7, step_size=30)
        assert beta_at(step, cfg) == pytest.approx(expected, rel=1e-12)
        # steps_per_epoch does not matter for the authors' schedule
        assert beta_at(step, cfg, steps_per_epoch=17) == beta_at(step, cfg)


def test_beta_at_dispatches_staircase_with_steps_per_epoch():
    cfg = TrainConfig(schedule="staircase", epoch_step=20)
    spe = 10  # epoch = step // 10; beta steps up every 20 epochs = 200 steps
    for step in [0, 199, 200, 399, 400, 1000]:
        assert beta_at(step, cfg, steps_per_epoch=spe) == pytest.approx((step // spe // 20 + 1) ** 0.5)
    assert beta_at(199, cfg, steps_per_epoch=spe) == 1.0
    assert beta_at(200, cfg, steps_per_epoch=spe) == pytest.approx(math.sqrt(2))
    # steps_per_epoch=1: every step is an epoch
    assert beta_at(40, cfg) == pytest.approx(math.sqrt(3))
    # beta0 scales the staircase
    assert beta_at(200, dataclasses.replace(cfg, beta0=2.0), steps_per_epoch=spe) == pytest.approx(2 * math.sqrt(2))


def test_beta_at_constant_is_beta0_forever():
    cfg = TrainConfig(schedule="constant", beta0=3.0)
    assert {beta_at(s, cfg, steps_per_epoch=5) for s in [0, 1, 200, 10_000]} == {3.0}


def test_beta_at_unknown_schedule_is_an_error():
    # TrainConfig refuses it up front; a duck-typed config reaching beta_at still gets a clear error
    bad = type("Cfg", (), {"schedule": "linear"})()
    with pytest.raises(ValueError, match="schedule='linear'"):
        beta_at(0, bad)
