"""Continuation: beta as a pure function of the training step (paper Sec. 3.3).

HashNet trains h = tanh(beta * z) and raises beta so that a sequence of smooth
problems converges to the ill-posed sign(z) one. The training loop owns the step
counter and asks this module for beta; the model just receives it.
"""
from __future__ import annotations

import math


def authors_beta(step: int, *, beta0: float = 1.0, gamma: float = 0.005, power: float = 0.5,
                 step_size: int = 200) -> float:
    """The authors' schedule: beta = beta0 * (1 + gamma * t) ** power.

    t is the step rounded down to a multiple of ``step_size``: the authors' code
    recomputes beta every ``step_size`` iterations, so beta is a staircase that follows
    the curve (beta ~ 7.1 at t = 10,000 with the defaults).
    """
    if step < 0:
        raise ValueError(f"step={step!r} is invalid: expected an integer >= 0")
    t = (step // step_size) * step_size
    return beta0 * (1.0 + gamma * t) ** power


def staircase_beta(epoch: int, *, epoch_step: int = 20) -> float:
    """A popular re-implementation's schedule: beta = (epoch // epoch_step + 1) ** 0.5."""
    if epoch < 0:
        raise ValueError(f"epoch={epoch!r} is invalid: expected an integer >= 0")
    return math.sqrt(epoch // epoch_step + 1)


def beta_at(step: int, config, steps_per_epoch: int = 1) -> float:
    """beta for a ``TrainConfig`` at a training step (0-based)."""
    if config.schedule == "authors":
        return authors_beta(step, beta0=config.beta0, gamma=config.gamma, power=config.power,
                            step_size=config.step_size)
    if config.schedule == "staircase":
        return config.beta0 * staircase_beta(step // max(1, steps_per_epoch),
                                             epoch_step=config.epoch_step)
    if config.schedule == "constant":
        return float(config.beta0)
    raise ValueError(f"schedule={config.schedule!r} is invalid: expected 'authors', 'staircase' or 'constant'")
