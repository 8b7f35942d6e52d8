"""Smoke runs: the same training run on a shorter clock.

Notebooks and CI run a preset with far fewer iterations. Cutting ``iters`` alone would stop
the continuation early (beta would barely leave beta0) and never decay the learning rate, so
``shortened`` also rescales every schedule by r = iters_old / iters_new:

    beta  = beta0 * (1 + gamma * t) ** power      with gamma -> gamma * r, step_size -> step_size / r
    lr    = lr * lr_decay ** (t // lr_step)      with lr_step -> lr_step / r

so that at the same fraction of training beta and the learning rate are (up to rounding of
the step sizes) what the full run has. The per-epoch "staircase" schedule depends on epochs,
not iterations, and is rescaled through ``epoch_step``.
"""
from __future__ import annotations

import dataclasses

from .config import TrainConfig


def shortened(config: TrainConfig, iters: int) -> TrainConfig:
    """``config`` with ``iters`` steps and its beta and learning-rate schedules compressed to fit."""
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters={iters!r} is invalid: expected an integer >= 1")
    r = config.iters / iters
    return dataclasses.replace(
        config, iters=iters, gamma=config.gamma * r,
        step_size=max(1, round(config.step_size / r)), lr_step=max(1, round(config.lr_step / r)),
        epoch_step=max(1, round(config.epoch_step / r)))
