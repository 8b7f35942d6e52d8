"""Lesson 08, HashNet from scratch: each checker passes the reference, names the typical wrong
answers (at least three per checker), and lets an unanswered piece through quietly; the gradient
check, the comparison with fit() and the line counts. test_solved_lessons.py runs the lesson with
the reference solutions filled in."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import assert_checker_names_the_slip

from hashnet_lite.teaching import capstone as cap
from hashnet_lite.teaching import exercises as ex

Reference = cap._ReferenceHashModel


# ------------------------------------------------------------------ wrong models
class DefaultInit(Reference):
    def __init__(self, backbone, feature_dim, bits):
        nn.Module.__init__(self)
        self.backbone = backbone
        self.hash_layer = nn.Linear(feature_dim, bits)  # nn.Linear's own initialisation


class DefaultWeights(DefaultInit):
    def __init__(self, backbone, feature_dim, bits):
        super().__init__(backbone, feature_dim, bits)
        nn.init.zeros_(self.hash_layer.bias)


class NoBeta(Reference):
    def forward(self, x, beta=1.0):
        return torch.tanh(self.hash_layer(self.backbone(x)))


class BetaOutside(Reference):
    def forward(self, x, beta=1.0):
        return beta * torch.tanh(self.hash_layer(self.backbone(x)))


class TorchSign(Reference):
    @torch.no_grad()
    def codes(self, x):
        return torch.sign(self.hash_layer(self.backbone(x)))


class StrictSign(Reference):
    @torch.no_grad()
    def codes(self, x):
        return torch.where(self.hash_layer(self.backbone(x)) > 0, 1, -1)


class ContinuousCodes(Reference):
    @torch.no_grad()
    def codes(self, x):
        return self.forward(x, 1.0)


class OtherName(nn.Module):
    def __init__(self, backbone, feature_dim, bits):
        super().__init__()
        self.backbone, self.fc = backbone, nn.Linear(feature_dim, bits)


# ------------------------------------------------------------------ wrong losses
def _pairs(h):
    return ~torch.eye(len(h), dtype=torch.bool)


def no_weights(h, y, alpha):
    s = (y @ y.T > 0).to(h.dtype)
    theta = alpha * h @ h.T
    return (F.softplus(theta) - s * theta)[_pairs(h)].mean()


def overflow(h, y, alpha):
    s = (y @ y.T > 0).to(h.dtype)
    theta = alpha * h @ h.T
    nll = torch.log(1 + torch.exp(theta)) - s * theta
    n_all, n_sim = _pairs(h).sum(), (s.bool() & _pairs(h)).sum()
    w = torch.where(s > 0, n_all / n_sim, n_all / (n_all - n_sim)) * _pairs(h)
    return (w * nll).sum() / w.sum()


def with_diagonal(h, y, alpha):
    s = (y @ y.T > 0).to(h.dtype)
    theta = alpha * h @ h.T
    n_all, n_sim = _pairs(h).sum(), (s.bool() & _pairs(h)).sum()
    w = torch.where(s > 0, n_all / n_sim, n_all / (n_all - n_sim))
    return (w * (F.softplus(theta) - s * theta)).sum() / w.sum()


def equal_rows(h, y, alpha):
    same = (y[:, None, :] == y[None, :, :]).all(-1).to(h.dtype)
    return cap._reference_hashnet_loss(h, torch.eye(len(h), dtype=h.dtype)[same.argmax(1)], alpha)


def detached(h, y, alpha):
    return torch.tensor(cap._reference_hashnet_loss(h, y, alpha).item())


# ------------------------------------------------------------------ wrong loops
def loop(*, zero_grad=True, hash_mult=True, first_step=0, call_beta=True, alpha=None, momentum=True, decay=True,
         update=True):
    def train_loop(model, batches, config, loss_fn, beta_fn):
        optimizer = torch.optim.SGD(
            [{"params": model.backbone.parameters(), "lr": config.lr},
             {"params": model.hash_layer.parameters(), "lr": config.lr * (config.hash_lr_mult if hash_mult else 1)}],
            momentum=config.momentum if momentum else 0, weight_decay=config.weight_decay if decay else 0)
        losses = []
        for step, (x, y) in enumerate(batches, first_step):
            h = model(x, beta_fn(step, config) if call_beta else 1.0)
            loss = loss_fn(h, y, 10 / config.bits if alpha is None else alpha)
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            if update:
                optimizer.step()
            losses.append(loss.item())
        return losses
    return train_loop


WRONG = {
    "hash_model": {
        "nn.Linear's bias": (DefaultInit, "bias starts at 0"),
        "nn.Linear's weights": (DefaultWeights, "N(0, 0.01)"),
        "no beta": (NoBeta, "you left beta out"),
        "beta outside": (BetaOutside, "beta goes inside"),
        "torch.sign": (TorchSign, "torch.sign(0) is 0"),
        "z > 0": (StrictSign, "maps z = 0 to +1"),
        "continuous codes": (ContinuousCodes, "only -1 and +1"),
        "another name": (OtherName, "self.hash_layer"),
    },
    "hashnet_loss": {
        "no weights": (no_weights, "HashNet-W"),
        "sign flipped": (lambda h, y, a: -cap._reference_hashnet_loss(h, y, a), "sign is flipped"),
        "log(1 + exp) overflows": (overflow, "softplus"),
        "the diagonal": (with_diagonal, "the diagonal"),
        "equal label rows": (equal_rows, "share at least one label"),
        "detached": (detached, "no gradient"),
        "sum, not mean": (lambda h, y, a: cap._reference_hashnet_loss(h, y, a) * (len(h) * (len(h) - 1)) * 2,
                "weighted sum"),
    },
    "beta_at_step": {
        "(beta0 (1 + gamma t))^p": (lambda step, c: (c.beta0 * (1 + c.gamma * (step // c.step_size) * c.step_size))
                                    ** c.power, "the power applies to (1 + gamma t) only"),
        "smooth": (lambda step, c: c.beta0 * (1 + c.gamma * step) ** c.power, "smooth curve"),
        "no beta0": (lambda step, c: (1 + c.gamma * (step // c.step_size) * c.step_size) ** c.power, "beta0"),
        "t = step // step_size": (lambda step, c: c.beta0 * (1 + c.gamma * (step // c.step_size)) ** c.power,
                                  "not the number of recomputations"),
        "step + 1": (lambda step, c: cap._reference_beta_at_step(step + 1, c), "steps count from 0"),
    },
    "train_loop": {
        "no zero_grad": (loop(zero_grad=False), "zero_grad"),
        "one learning rate": (loop(hash_mult=False), "hash_lr_mult"),
        "beta held at 1": (loop(call_beta=False), "never called beta_fn"),
        "steps from 1": (loop(first_step=1), "steps 0, 1, 2, 3, 4"),
        "alpha = 1": (loop(alpha=1.0), "alpha = 10 / K"),
        "no momentum": (loop(momentum=False), "momentum"),
        "no weight decay": (loop(decay=False), "weight_decay"),
        "no optimizer.step": (loop(update=False), "did not move"),
    },
}


def reference(name):
    namespace = {"np": np, "torch": torch, "F": F, "math": math, "nn": nn}
    exec(ex.solution_source(name), namespace)
    return namespace[ex.EXERCISES[name].defines]


def test_the_lesson_08_exercises_are_registered_with_wrong_answers():
    assert set(WRONG) == {name for name, e in ex.EXERCISES.items() if e.lesson == "08"}
    assert all(len(slips) >= 3 for slips in WRONG.values())
    assert ex.solution_source("hash_model").startswith("class HashModel(nn.Module):")


@pytest.mark.parametrize("name", sorted(WRONG))
def test_the_reference_passes_in_strict_mode(name):
    assert ex.EXERCISES[name].check(reference(name), strict=True).passed


@pytest.mark.parametrize("name, slip", [(n, s) for n in sorted(WRONG) for s in WRONG[n]])
def test_a_typical_wrong_answer_fails_and_says_what_it_is(name, slip):
    assert_checker_names_the_slip(name, *WRONG[name][slip])


def test_the_notebook_skeletons_count_as_unanswered(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("HASHNET_LITE_STRICT", raising=False)

    class Skeleton(nn.Module):
        def __init__(self, backbone, feature_dim, bits):
            super().__init__()
            raise NotImplementedError

    def unfinished(*args):
        raise NotImplementedError

    for name, answer in (("hash_model", Skeleton), ("hashnet_loss", unfinished), ("beta_at_step", unfinished),
                         ("train_loop", unfinished)):
        assert ex.EXERCISES[name].check(answer).status == ex.OPEN
    assert not cap.ready(Skeleton, unfinished, unfinished, unfinished)


def test_the_gradient_check_agrees_for_the_reference_and_reports_a_missing_gradient(capsys):
    assert cap.gradient_check(cap._reference_hashnet_loss) < 1e-6
    assert cap.gradient_check(detached) is None
    assert "could not differentiate" in capsys.readouterr().out

    def unfinished(*args):
        raise NotImplementedError

    assert cap.gradient_check(unfinished) is None


def test_the_gradient_check_sees_a_term_that_left_autograd():
    def partly_detached(h, y, alpha):  # the value counts h^2, the gradient does not
        return cap._reference_hashnet_loss(h, y, alpha) + (h.detach() ** 2).sum()

    assert cap.gradient_check(partly_detached) > 0.1


@pytest.fixture(scope="module")
def small_run():
    from hashnet_lite import fit
    from hashnet_lite.data import load_data
    from hashnet_lite.model import build_model
    from hashnet_lite.presets import preset_config, shortened

    data = load_data("digits")
    config = shortened(preset_config("digits")[0], 30)
    torch.manual_seed(0)
    mine = build_model(config, data.input_shape, model_class=Reference)
    losses = cap._reference_train_loop(mine, cap.batches(data, config), config, cap._reference_hashnet_loss,
                                       cap._reference_beta_at_step)
    return data, config, mine, losses, fit(data, config, progress=False)[0]


def test_the_batches_are_the_package_s(small_run):
    from hashnet_lite.batches import epoch_order

    data, config, _, losses, _ = small_run
    assert len(losses) == config.iters and len(list(cap.batches(data, config))) == config.iters
    x, y = next(iter(cap.batches(data, config)))
    first = epoch_order(len(data.train), config.seed, 0)[:config.batch_size].numpy()
    assert np.array_equal(y.numpy(), data.y_train[first])


def test_the_reference_is_within_the_tolerance_of_fit_and_beta_one_is_not(small_run):
    data, config, mine, _, package = small_run
    assert cap.compare_with_package(mine, data, config, package, strict=True).passed
    assert cap.compare_with_package(None, data, config, package).status == ex.OPEN
    from hashnet_lite.model import build_model

    untrained = build_model(config, data.input_shape, model_class=Reference)
    assert cap.compare_with_package(untrained, data, config, package).status == ex.WRONG


def test_evaluate_keeps_torch_s_thread_count(small_run):
    data, config, mine, _, _ = small_run
    before = torch.get_num_threads()
    cap.evaluate(mine, data, config)
    assert torch.get_num_threads() == before


def test_line_counts_skip_docstrings_and_comments():
    def piece(x):
        """A docstring
        over two lines."""
        # a comment

        return x  # one line of code

    assert cap.code_lines(piece) == 2  # the def and the return
    table = cap.line_counts({"beta_at_step": cap._reference_beta_at_step})
    assert table.loc["beta_at_step", "your lines"] == 3
    assert table.loc["train_loop", "package lines"] > 100
    references = (cap._ReferenceHashModel, cap._reference_hashnet_loss, cap._reference_beta_at_step,
                  cap._reference_train_loop)
    assert sum(cap.code_lines(r) for r in references) == 44  # lesson 08: "44 lines of code in the reference"
