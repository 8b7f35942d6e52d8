"""Lesson 08, HashNet from scratch: the checkers of the four pieces the learner writes, their
hidden reference solutions, and the helpers that run the learner's HashNet beside the package's.

The four pieces, in the order the lesson asks for them:

- ``HashModel(backbone, feature_dim, bits)``: the hash layer on a given backbone, z = W f(x) + b
  with W ~ N(0, 0.01) and b = 0; ``forward(x, beta)`` is h = tanh(beta z), ``codes(x)`` is
  sign(z) with sign(0) := +1 (paper Sec. 3.1; ``model.HashNet``);
- ``hashnet_loss(h, y, alpha)``: Eq. 4-5 over the pairs i != j of a batch, s_ij from the
  multi-hot labels y, the weights |S|/|S1| and |S|/|S0| (``loss.pairwise_likelihood_loss``);
- ``beta_at_step(step, config)``: the continuation schedule beta0 (1 + gamma t)^p, t the step
  rounded down to a multiple of step_size (Sec. 3.3; ``continuation.beta_at``);
- ``train_loop(model, batches, config, loss_fn, beta_fn)``: SGD with momentum and weight decay,
  the hash layer at ``hash_lr_mult`` x the learning rate, beta from the schedule at every step;
  returns the loss of every step (``train.train`` without its extra lines).

Each ``check_<name>`` follows ``checking``: an unanswered piece passes quietly, a wrong one says
what it looks like, strict mode (nbgrader) raises. ``compare_with_package`` grades the learner's
trained model against ``fit`` on the same data, config and seed, within ``TOLERANCE``.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..continuation import authors_beta, beta_at
from ..loss import as_label_matrix, pairwise_likelihood_loss
from ..model import HashNet
from .checking import Feedback, _call, _close, _name_the_slip, _number, _Open, _run, _Wrong


# ======================================================================== the reference pieces
class _ReferenceHashModel(nn.Module):
    """backbone -> hash layer z = W f(x) + b -> h = tanh(beta z) in training, sign(z) as the code."""

    def __init__(self, backbone, feature_dim, bits):
        super().__init__()
        self.backbone = backbone  # f(x): (B, feature_dim)
        self.hash_layer = nn.Linear(feature_dim, bits)  # z = W f(x) + b: (B, bits)
        nn.init.normal_(self.hash_layer.weight, mean=0.0, std=0.01)  # the paper's N(0, 0.01)
        nn.init.zeros_(self.hash_layer.bias)

    def forward(self, x, beta=1.0):
        z = self.hash_layer(self.backbone(x))
        return torch.tanh(beta * z)  # h = tanh(beta z), what the loss sees

    @torch.no_grad()
    def codes(self, x):
        z = self.hash_layer(self.backbone(x))
        return torch.where(z >= 0, 1, -1).to(torch.int8)  # sign(z), with sign(0) := +1


def _reference_hashnet_loss(h, y, alpha):
    """Eq. 4-5: the weighted mean of log(1 + e^theta_ij) - s_ij theta_ij over the pairs i != j."""
    s = (y @ y.T > 0).to(h.dtype)  # (B, B): similar when two items share a label
    theta = alpha * h @ h.T  # (B, B)
    nll = F.softplus(theta) - s * theta  # Eq. 4; softplus(x) = log(1 + e^x) without overflow
    pairs = ~torch.eye(len(h), dtype=torch.bool)  # i != j
    n_all, n_sim = pairs.sum(), (s.bool() & pairs).sum()
    w_sim = n_all / n_sim.clamp(min=1)  # |S| / |S1|
    w_dis = n_all / (n_all - n_sim).clamp(min=1)  # |S| / |S0|
    w = torch.where(s > 0, w_sim, w_dis) * pairs  # Eq. 5's weights, 0 on the diagonal
    return (w * nll).sum() / w.sum()


def _reference_beta_at_step(step, config):
    """beta0 (1 + gamma t)^power, t = the step rounded down to a multiple of step_size."""
    t = (step // config.step_size) * config.step_size
    return config.beta0 * (1 + config.gamma * t) ** config.power


def _reference_train_loop(model, batches, config, loss_fn, beta_fn):
    """SGD on loss_fn(tanh(beta z), y, alpha), beta = beta_fn(step, config); returns every step's loss."""
    optimizer = torch.optim.SGD(
        [{"params": model.backbone.parameters(), "lr": config.lr},
         {"params": model.hash_layer.parameters(), "lr": config.lr * config.hash_lr_mult}],  # 10x
        momentum=config.momentum, weight_decay=config.weight_decay)
    alpha = 10 / config.bits if config.alpha is None else config.alpha  # alpha = 10 / K
    model.train()
    losses = []
    for step, (x, y) in enumerate(batches):  # step = 0, 1, 2, ...
        h = model(x, beta_fn(step, config))  # (B, K)
        loss = loss_fn(h, y, alpha)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


# ======================================================================== 1 the hash layer
def _tiny_backbone(features: int = 64) -> nn.Module:
    """A backbone with no bias: an input of zeros gives f(x) = 0, so z = b exactly."""
    net = nn.Sequential(nn.Linear(6, features, bias=False), nn.ReLU())
    net.out_features = features
    return net


def _build(name, cls, backbone, feature_dim, bits):
    model = _call(name, cls, backbone, feature_dim, bits)
    if not isinstance(model, nn.Module):
        raise _Wrong(f"`{name}(backbone, feature_dim, bits)` made a {type(model).__name__}; make it a class "
                     "that inherits from nn.Module (and calls super().__init__()).")
    if getattr(model, "backbone", None) is not backbone:
        raise _Wrong("keep the backbone you were given as `self.backbone` (the training loop gives it its own "
                     "learning rate).")
    layer = getattr(model, "hash_layer", None)
    if not isinstance(layer, nn.Linear):
        raise _Wrong("the hash layer must be `self.hash_layer = nn.Linear(feature_dim, bits)`: z = W f(x) + b.")
    if (layer.in_features, layer.out_features) != (feature_dim, bits):
        raise _Wrong(f"your hash layer maps {layer.in_features} -> {layer.out_features}; it maps the backbone's "
                     f"{feature_dim} features to the {bits} bits.")
    return model


def check_hash_model(HashModel, *, strict: bool | None = None) -> Feedback:
    """Checks the class ``HashModel(backbone, feature_dim, bits)``: its hash layer and its initial
    weights, ``forward(x, beta)`` = tanh(beta z) and ``codes(x)`` = sign(z) with sign(0) = +1,
    against ``model.HashNet`` holding the same weights."""
    name = "hash_model"

    def body():
        if HashModel is None:
            raise _Open("write the class `HashModel` in the cell above, run that cell, then run this one.")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            backbone = _tiny_backbone()
            model = _build("HashModel", HashModel, backbone, 64, 16)
        w, b = model.hash_layer.weight.detach(), model.hash_layer.bias.detach()
        if b.abs().max() > 0:
            raise _Wrong("the hash layer's bias starts at 0 in the paper (nn.init.zeros_); yours does not.")
        if not 0.008 < float(w.std()) < 0.012:
            raise _Wrong(f"the hash layer's weights have standard deviation {float(w.std()):.4f}; the paper draws "
                         "them from N(0, 0.01) (nn.init.normal_(weight, std=0.01)). nn.Linear's own initialisation "
                         "is far larger, and makes every |z| large from the first step.")
        package = HashNet(backbone, 64, 16)
        package.hash_layer.load_state_dict(model.hash_layer.state_dict())
        model.eval()
        package.eval()
        g = torch.Generator().manual_seed(1)
        x = torch.randn(5, 6, generator=g)
        with torch.no_grad():
            package.hash_layer.weight.mul_(40)  # larger z, so that beta shows
            model.hash_layer.weight.copy_(package.hash_layer.weight)
            z = package.project(x)
            for beta in (1.0, 2.5):
                expected = package(x, beta)
                out = _call("HashModel.forward", model, x, beta)
                if not torch.is_tensor(out) or tuple(out.shape) != tuple(expected.shape):
                    raise _Wrong(f"forward(x, beta) returned {type(out).__name__} of shape "
                                 f"{tuple(getattr(out, 'shape', ()))}; expected a tensor of shape "
                                 f"{tuple(expected.shape)} (one row per item, one column per bit).")
                if _close(out, expected, 1e-5):
                    continue
                slips = {"you left beta out: the output is tanh(beta z)": torch.tanh(z),
                         "you multiplied tanh(z) by beta; beta goes inside: tanh(beta z)": beta * torch.tanh(z),
                         "forward returns z itself; training needs h = tanh(beta z)": z,
                         "forward returns sign(z); sign has no gradient to train (lesson 02): return tanh(beta z)":
                             torch.where(z >= 0, 1.0, -1.0)}
                for slip, value in slips.items():
                    if _close(out, value, 1e-5):
                        raise _Wrong(f"at beta = {beta}: {slip}.")
                raise _Wrong(f"at beta = {beta} forward returned {np.array2string(out[0, :4].numpy(), precision=3)}... "
                             f"for the first item; expected {np.array2string(expected[0, :4].numpy(), precision=3)}...")
            x0 = torch.cat([x, torch.zeros(1, 6)])  # the last item gives f(x) = 0, so z = b = 0 exactly
            expected = package.codes(x0).to(torch.float64)
            got = _call("HashModel.codes", model.codes, x0)
            if not torch.is_tensor(got) or tuple(got.shape) != tuple(expected.shape):
                raise _Wrong(f"codes(x) returned {type(got).__name__} of shape {tuple(getattr(got, 'shape', ()))}; "
                             f"expected a tensor of shape {tuple(expected.shape)}.")
            got = got.detach().to(torch.float64)
            if _close(got, expected):
                return ("your model holds its hash layer as the paper's (N(0, 0.01) weights, zero bias); forward is "
                        "tanh(beta z) and codes are sign(z) with sign(0) = +1, as model.HashNet.")
            if _close(got[:-1], expected[:-1]) and float(got[-1].abs().min()) == 0:
                raise _Wrong("where z = 0 your code is 0: torch.sign(0) is 0, which is no bit. Map z >= 0 to +1 "
                             "(torch.where(z >= 0, 1, -1)).")
            if _close(got[:-1], expected[:-1]):
                raise _Wrong("where z = 0 your code is -1; the package maps z = 0 to +1 (z >= 0).")
            if not bool(((got == 1) | (got == -1)).all()):
                raise _Wrong("codes(x) must hold only -1 and +1 (sign(z)); yours holds other values "
                             "(the continuous tanh(beta z)?).")
            raise _Wrong("codes(x) differs from sign(z) on some bits: take the sign of z = W f(x) + b.")

    return _run(name, body, strict)


# ======================================================================== 2 the loss
def name_the_loss_slip(got: float, expected: float, slips: dict, what: str) -> None:
    """Raises _Wrong for a loss ``got`` that is not ``expected``: overflow, one of ``slips`` (``loss_slips``), or
    the two values."""
    if not math.isfinite(got):
        raise _Wrong(f"on {what} you returned {got}: log(1 + exp(theta)) overflows for large theta. "
                     "F.softplus(theta) is the same function without overflow.")
    _name_the_slip(got, slips, f"on {what}", 1e-6)
    raise _Wrong(f"on {what} you returned {got:.6f}; expected {expected:.6f}.")


def loss_slips(h, s, alpha) -> dict:
    """{the slip, in words: the loss it gives} for the usual slips in Eq. 4-5 (lessons 04 and 08)."""
    theta = alpha * h @ h.T
    nll = F.softplus(theta) - s * theta
    pairs = ~torch.eye(len(h), dtype=torch.bool)
    n_all, n_sim = pairs.sum(), (s.bool() & pairs).sum()
    w_all = torch.where(s > 0, n_all / n_sim, n_all / (n_all - n_sim))  # the diagonal too
    w = w_all * pairs
    swapped = torch.where(s > 0, n_all / (n_all - n_sim), n_all / n_sim) * pairs
    return {
        "you left out the weights (every pair counts 1: that is HashNet-W, the ablation)": float(nll[pairs].mean()),
        "you included the pairs i = j (the diagonal): sum over i != j only": float((w_all * nll).sum() / w_all.sum()),
        "the sign is flipped: the loss is log(1 + e^theta) - s * theta":
            float((w * (s * theta - F.softplus(theta))).sum() / w.sum()),
        "the weights are swapped: similar pairs get |S| / |S1|, dissimilar ones |S| / |S0|":
            float((swapped * nll).sum() / swapped.sum()),
        "you returned the weighted sum; divide it by the sum of the weights": float((w * nll).sum()),
        "theta lacks alpha: theta = alpha <h_i, h_j>": float((w * (F.softplus(h @ h.T) - s * (h @ h.T))).sum() / w.sum()),
    }


def _loss_cases():
    g = torch.Generator().manual_seed(0)
    labels_a = torch.tensor([0, 0, 1, 1, 1, 2])
    h_a = torch.tanh(torch.randn(6, 8, generator=g, dtype=torch.float64))
    labels_b = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.float64)
    h_b = torch.tanh(2 * torch.randn(6, 16, generator=g, dtype=torch.float64))
    labels_c = torch.arange(12) % 4
    h_c = torch.where(torch.randn(12, 100, generator=g, dtype=torch.float64) > 0, 1.0, -1.0)
    return [("6 items of 3 classes, 8 bits (alpha = 10 / 8)", h_a, as_label_matrix(labels_a).double(), 10 / 8),
            ("6 multi-label items, 16 bits (alpha = 10 / 16)", h_b, labels_b, 10 / 16),
            ("12 items with +-1 codes of 100 bits and alpha = 10, so theta reaches 1000", h_c,
             as_label_matrix(labels_c).double(), 10.0)]


def check_hashnet_loss(hashnet_loss, *, strict: bool | None = None) -> Feedback:
    """Checks ``hashnet_loss(h, y, alpha)`` (y multi-hot (B, C)) against loss.pairwise_likelihood_loss,
    and that it keeps the gradient."""
    name = "hashnet_loss"

    def body():
        for what, h, y, alpha in _loss_cases():
            expected = float(pairwise_likelihood_loss(h, y, alpha=alpha))
            got = _number(name, _call(name, hashnet_loss, h.clone(), y.clone(), alpha))
            if math.isclose(got, expected, rel_tol=1e-6):
                continue
            s = (y @ y.T > 0).double()
            theta = alpha * h @ h.T
            pairs = ~torch.eye(len(h), dtype=torch.bool)
            n_all = pairs.sum()
            same_rows = (y[:, None, :] == y[None, :, :]).all(-1).double()
            slips = loss_slips(h, s, alpha)
            if not torch.equal(same_rows, s):
                ns = (same_rows.bool() & pairs).sum()
                ws = torch.where(same_rows > 0, n_all / ns, n_all / (n_all - ns)) * pairs
                slips["two items are similar when they share at least one label (y_i . y_j > 0), not only when "
                      "their label rows are equal"] = float(
                    (ws * (F.softplus(theta) - same_rows * theta)).sum() / ws.sum())
            name_the_loss_slip(got, expected, slips, what)
        h = _loss_cases()[0][1].clone().requires_grad_(True)
        out = _call(name, hashnet_loss, h, _loss_cases()[0][2], 10 / 8)
        if not torch.is_tensor(out) or out.grad_fn is None:
            raise _Wrong("your loss has the right value but no gradient: it must stay a torch tensor computed from h "
                         "(no .item(), numpy or torch.no_grad()), or the loop cannot call backward() on it.")
        return "your loss matches loss.pairwise_likelihood_loss on all three batches, theta = 1000 and multi-label included."

    return _run(name, body, strict)


def gradient_check(hashnet_loss, *, eps: float = 1e-6, seed: int = 0) -> float | None:
    """Compares autograd's gradient of ``hashnet_loss`` with central finite differences on a small
    float64 batch (as CS231n's assignments do); prints and returns the largest relative error
    max |a - n| / max(|a|, |n|, 1e-8), a few 1e-8 or less for a correct loss. Returns None (and
    says so) when the loss is not written yet or has no gradient."""
    g = torch.Generator().manual_seed(seed)
    h = torch.tanh(torch.randn(6, 8, generator=g, dtype=torch.float64))
    y = as_label_matrix(torch.tensor([0, 0, 1, 1, 1, 2])).double()
    alpha = 10 / 8
    try:
        hv = h.clone().requires_grad_(True)
        loss = hashnet_loss(hv, y, alpha)
        if loss is None:
            raise NotImplementedError
        (analytic,) = torch.autograd.grad(loss, hv)
    except NotImplementedError:
        print("gradient check: `hashnet_loss` is not written yet.")
        return None
    except Exception as e:  # noqa: BLE001 - the learner's code: report, do not stop the lesson
        print(f"gradient check: autograd could not differentiate your loss ({type(e).__name__}: {e}).")
        return None
    numeric = torch.zeros_like(h)
    with torch.no_grad():
        for idx in np.ndindex(*h.shape):
            plus, minus = h.clone(), h.clone()
            plus[idx] += eps
            minus[idx] -= eps
            numeric[idx] = (float(hashnet_loss(plus, y, alpha)) - float(hashnet_loss(minus, y, alpha))) / (2 * eps)
    error = float(((analytic - numeric).abs() / torch.maximum(analytic.abs().clamp(min=1e-8), numeric.abs())).max())
    print(f"gradient check on a 6 x 8 batch: largest relative error {error:.1e} "
          f"({'autograd and finite differences agree' if error < 1e-5 else 'they disagree: is every step differentiable?'})")
    return error


# ======================================================================== 3 the schedule
def check_beta_at_step(beta_at_step, *, strict: bool | None = None) -> Feedback:
    """Checks ``beta_at_step(step, config)`` against continuation.beta_at (the authors' schedule)."""
    name = "beta_at_step"

    def body():
        configs = [("the digits preset (beta0 1, gamma 0.02, power 0.5, step size 50)",
                    TrainConfig(iters=600, gamma=0.02, step_size=50), (0, 49, 50, 99, 550, 599)),
                   ("beta0 = 2, gamma 0.1, power 1.5, step size 10",
                    TrainConfig(beta0=2.0, gamma=0.1, power=1.5, step_size=10), (0, 9, 10, 25, 100)),
                   ("the paper's settings (gamma 0.005, power 0.5, step size 200)", TrainConfig(), (0, 199, 200, 9999))]
        for what, config, steps in configs:
            for step in steps:
                expected = beta_at(step, config)
                got = _number(name, _call(name, beta_at_step, step, config))
                if math.isclose(got, expected, rel_tol=1e-9):
                    continue
                b0, gm, p, size = config.beta0, config.gamma, config.power, config.step_size
                t = (step // size) * size
                slips = {
                    f"the power applies to (1 + gamma t) only: beta0 * (1 + gamma t) ** power, not "
                    f"(beta0 (1 + gamma t)) ** power": (b0 * (1 + gm * t)) ** p,
                    f"you returned the smooth curve; round the step down to a multiple of step_size first "
                    f"(t = {t})": b0 * (1 + gm * step) ** p,
                    "you left out the factor beta0": (1 + gm * t) ** p,
                    f"t is the step rounded down to a multiple of step_size ({t}), not the number of "
                    f"recomputations ({step // size})": b0 * (1 + gm * (step // size)) ** p,
                    "steps count from 0: use the step as given, not step + 1":
                        authors_beta(step + 1, beta0=b0, gamma=gm, power=p, step_size=size),
                }
                _name_the_slip(got, slips, f"with {what}, at step {step}", 1e-9)
                raise _Wrong(f"with {what}, at step {step} you returned {got:.4f}; expected {expected:.4f}.")
        return "your schedule matches continuation.beta_at at every step tried, beta0 = 2 and power 1.5 included."

    return _run(name, body, strict)


# ======================================================================== 4 the loop
def _loop_problem():
    """A tiny model, five batches and a config whose every field the loop must use."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = HashNet(nn.Sequential(nn.Linear(6, 8), nn.Tanh()), 8, 4)
        with torch.no_grad():
            model.hash_layer.weight.normal_(0, 0.3)
    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(8, 6, generator=g), as_label_matrix(torch.randint(0, 3, (8,), generator=g), 3))
               for _ in range(5)]
    config = TrainConfig(bits=4, iters=5, batch_size=8, lr=0.05, hash_lr_mult=10.0, momentum=0.9,
                         weight_decay=0.01, gamma=0.5, step_size=2, alpha=None)
    return model, batches, config


def _variant_loop(model, batches, config, *, zero_grad=True, hash_mult=True, momentum=True, decay=True):
    """The reference loop with one of its lines left out (to name a learner's slip)."""
    optimizer = torch.optim.SGD(
        [{"params": model.backbone.parameters(), "lr": config.lr},
         {"params": model.hash_layer.parameters(), "lr": config.lr * (config.hash_lr_mult if hash_mult else 1)}],
        momentum=config.momentum if momentum else 0, weight_decay=config.weight_decay if decay else 0)
    for step, (x, y) in enumerate(batches):
        loss = pairwise_likelihood_loss(model(x, beta_at(step, config)), y, alpha=10 / config.bits)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def check_train_loop(train_loop, *, strict: bool | None = None) -> Feedback:
    """Checks ``train_loop(model, batches, config, loss_fn, beta_fn)`` on a tiny model and five
    batches: the steps it asks beta for, the alpha it passes, the loss of each step and the weights
    it ends with, against the reference loop."""
    name = "train_loop"

    def body():
        model, batches, config = _loop_problem()
        steps, alphas = [], []

        def beta_fn(step, cfg):
            steps.append(step)
            return beta_at(step, cfg)

        def loss_fn(h, y, alpha):
            alphas.append(alpha)
            return pairwise_likelihood_loss(h, y, alpha=alpha)

        mine = copy.deepcopy(model)
        losses = _call(name, train_loop, mine, iter(list(batches)), config, loss_fn, beta_fn)
        if not steps:
            raise _Wrong("you never called beta_fn: beta must come from the schedule at every step.")
        if steps != list(range(len(batches))):
            raise _Wrong(f"you asked beta_fn for the steps {steps}; over five batches ask once per step, for the "
                         "steps 0, 1, 2, 3, 4 (enumerate(batches) counts from 0).")
        if any(not math.isclose(float(a), 10 / config.bits) for a in alphas):
            raise _Wrong(f"you passed alpha = {float(alphas[0]):g} to the loss; with config.alpha None, alpha = 10 / K "
                         f"= {10 / config.bits:g} (K = config.bits).")
        reference = copy.deepcopy(model)
        expected_losses = _reference_train_loop(reference, iter(list(batches)), config,
                                                lambda h, y, a: pairwise_likelihood_loss(h, y, alpha=a), beta_at)
        try:
            got_losses = [float(v) for v in losses]
        except (TypeError, ValueError):
            raise _Wrong(f"return the list of every step's loss (floats); you returned {type(losses).__name__}.") from None
        if len(got_losses) != len(expected_losses):
            raise _Wrong(f"you returned {len(got_losses)} losses for {len(expected_losses)} steps: one per step.")

        def same(a, b):
            return all(torch.allclose(p, q, rtol=1e-4, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))

        if same(mine, reference) and np.allclose(got_losses, expected_losses, rtol=1e-4, atol=1e-6):
            return ("your loop takes the same five steps as the reference: beta from the schedule, alpha = 10 / K, "
                    "SGD with momentum and weight decay, the hash layer at 10x the learning rate.")
        if same(mine, model):
            raise _Wrong("the weights did not move: call loss.backward() and optimizer.step() at every step "
                         "(and give the optimizer the model's parameters).")
        slips = {"you never reset the gradients: call optimizer.zero_grad() before loss.backward(), or each "
                 "step adds the old gradients to the new ones": dict(zero_grad=False),
                 "the hash layer trains at config.hash_lr_mult (10) times the backbone's learning rate: give the "
                 "optimizer two parameter groups": dict(hash_mult=False),
                 "you left out momentum=config.momentum": dict(momentum=False),
                 "you left out weight_decay=config.weight_decay": dict(decay=False)}
        for slip, flags in slips.items():
            if same(mine, _variant_loop(copy.deepcopy(model), iter(list(batches)), config, **flags)):
                raise _Wrong(f"{slip}.")
        if not np.allclose(got_losses, expected_losses, rtol=1e-4, atol=1e-6):
            raise _Wrong(f"your losses {np.round(got_losses, 4).tolist()} differ from the reference's "
                         f"{np.round(expected_losses, 4).tolist()}: record loss.item() at each step, before the update.")
        raise _Wrong("after five steps your weights differ from the reference loop's: SGD(lr=config.lr, "
                     "momentum, weight_decay), the hash layer at 10x, zero_grad, backward, step.")

    return _run(name, body, strict)


# ======================================================================== running yours
def ready(HashModel, hashnet_loss, beta_at_step, train_loop) -> bool:
    """True when all four pieces pass their checkers (quietly, never strict); else prints which do not."""
    checks = {"HashModel": check_hash_model(HashModel, strict=False),
              "hashnet_loss": check_hashnet_loss(hashnet_loss, strict=False),
              "beta_at_step": check_beta_at_step(beta_at_step, strict=False),
              "train_loop": check_train_loop(train_loop, strict=False)}
    missing = [name for name, feedback in checks.items() if not feedback.passed]
    if missing:
        print(f"Not yet trained: {', '.join(missing)} {'does' if len(missing) == 1 else 'do'} not pass its checker "
              "yet. Finish the exercises above, then run this cell again.")
    return not missing


def batches(data, config):
    """The ``config.iters`` training batches (x, y) of ``data`` in the package's order (the batches
    ``train`` draws: epochs shuffled from (seed, epoch), the last incomplete batch dropped); x float32
    in [0, 1], y the multi-hot labels (B, C)."""
    from ..batches import DeviceData, device_batches

    held = DeviceData(data.train, torch.device("cpu"))
    size = min(config.batch_size, len(data.train))
    for step, x, y in device_batches(held, 0, config.seed, size):
        if step >= config.iters:
            return
        yield x, y


def pre_activations(model, dataset, batch_size: int = 512) -> np.ndarray:
    """z = W f(x) + b of every item of ``dataset`` in eval mode: (N, K) float32. Works for the
    learner's model and the package's alike (both hold ``backbone`` and ``hash_layer``)."""
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    with torch.no_grad():
        return torch.cat([model.hash_layer(model.backbone(x)).float() for x, _ in loader]).numpy()


def evaluate(model, data, config) -> dict:
    """mAP@R of the codes sign(z) (the protocol's R, the package's conventions) and the database's
    quantization error mean |tanh(beta z) - sign(z)| at the run's last beta."""
    from ..conventions import CONVENTION, TIES
    from ..retrieval import mean_average_precision

    beta = beta_at(config.iters - 1, config)
    z_query, z_database = pre_activations(model, data.query), pre_activations(model, data.database)
    b_query, b_database = (np.where(z >= 0, 1, -1).astype(np.int8) for z in (z_query, z_database))
    threads = torch.get_num_threads()
    try:
        map_r = mean_average_precision(b_query, b_database, data.y_query, data.y_database, topk=data.topk,
                                       empty=CONVENTION, ties=TIES)
    finally:  # the retrieval kernels' first call can reset torch's thread count: keep the lesson's
        torch.set_num_threads(threads)
    return {"mAP": map_r, "quantization error": float(np.abs(np.tanh(beta * z_database) - b_database).mean())}


# How close a correct HashNet from scratch comes to fit() on the same data, config and seed. The
# two runs start from the same weights and batches; only the dropout masks differ (train() draws
# them from a generator seeded per step). Measured over dropout seeds on the digits, 32 bits: smoke
# (60 steps) and full (600 steps) runs stay well within these.
TOLERANCE = {"mAP": 0.03, "quantization error": 0.03}


def compare_with_package(my_model, data, config, package_model=None, *, strict: bool | None = None) -> Feedback:
    """Grades the learner's trained model: its mAP and quantization error against the package's
    run (``fit(data, config)``, or ``package_model`` when given) within ``TOLERANCE``."""
    name = "compare_with_package"

    def body():
        if my_model is None:
            raise _Open("train your HashNet first (the cells above), then run this one.")
        from ..train import fit

        package = package_model if package_model is not None else fit(data, config, progress=False)[0]
        mine, theirs = evaluate(my_model, data, config), evaluate(package, data, config)
        table = ", ".join(f"{k} {mine[k]:.3f} (package {theirs[k]:.3f})" for k in mine)
        off = [k for k in mine if abs(mine[k] - theirs[k]) > TOLERANCE[k]]
        if off:
            raise _Wrong(f"{table}: {', '.join(off)} more than {TOLERANCE[off[0]]} from the package's run. Did the "
                         "model train with the same config (seed, steps, bits)?")
        return f"{table}: within {TOLERANCE['mAP']} of the package's run on the same data, config and seed."

    return _run(name, body, strict)


# ======================================================================== where the package's lines go
# The package's counterpart of each piece: the functions that do its work.
COUNTERPARTS = {
    "HashModel": ("model.HashNet", "model.binarize", "model.build_model"),
    "hashnet_loss": ("loss.pairwise_likelihood_loss", "loss.similarity", "loss.as_label_matrix", "loss.pair_weights",
                     "loss.squared_label_cosine", "loss.with_continuous_similarity"),
    "beta_at_step": ("continuation.beta_at", "continuation.authors_beta", "continuation.staircase_beta"),
    "train_loop": ("train.train", "train.lr_at", "train.set_lr", "train.make_optimizer", "data.augment.for_training",
                   "placement.place", "placement.Placement", "checkpoint.resume_training", "checkpoint.Checkpointer",
                   "batches.training_batches"),
}


def code_lines(obj) -> int | None:
    """Lines of code of a function or class: without blank lines, comments and docstrings (None
    when its source cannot be found)."""
    import ast
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):  # a class defined in a notebook: inspect finds only its methods
        if not inspect.isclass(obj):
            return None
        methods = [v for v in vars(obj).values() if inspect.isfunction(v)]
        return 1 + sum(code_lines(m) or 0 for m in methods)
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and ast.get_docstring(node):
            first = node.body[0]
            docstrings.update(range(first.lineno, first.end_lineno + 1))
    return sum(1 for number, line in enumerate(source.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and number not in docstrings)


def line_counts(yours: dict):
    """A table: each piece's lines of code, yours and the package's counterpart (``COUNTERPARTS``),
    and the package's modules that hold it."""
    import importlib

    import pandas as pd

    rows = []
    for piece, names in COUNTERPARTS.items():
        package = 0
        for name in names:
            module, _, attr = name.rpartition(".")
            package += code_lines(getattr(importlib.import_module(f"hashnet_lite.{module}"), attr))
        modules = sorted({name.rpartition(".")[0].replace(".", "/") + ".py" for name in names})
        rows.append({"piece": piece, "your lines": code_lines(yours[piece]) if piece in yours else None,
                     "package lines": package, "in": ", ".join(modules)})
    return pd.DataFrame(rows).set_index("piece")
