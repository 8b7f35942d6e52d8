"""Why HashNet needs continuation: sign() has no useful gradient, and the usual fixes.

The hash code is b = sign(z). Its derivative is 0 wherever z != 0 (and undefined at 0), so
back-propagation through sign delivers exactly zero to every weight: training through sign
does not train. The options compared here (notebook 02):

- ``"sign"``: train through sign itself (autograd's derivative of sign is 0);
- ``"straight_through"``: the straight-through estimator (Bengio, Leonard, Courville 2013) in
  its clipped form (Hubara et al. 2016): the forward pass is sign(z), the backward pass
  pretends it was hardtanh(z) = clamp(z, -1, 1), i.e. passes the gradient where |z| <= 1.
  The gradient is then that of a function the network never computes: a biased estimate
  (``straight_through_bias`` works the bias out exactly on a one-dimensional example);
- ``"tanh"``: train h = tanh(z) (beta = 1 throughout), take sign(z) at test time: the
  HashNet-sgn ablation; the gap between h and sign(z) is left for test time to pay;
- ``"continuation"``: HashNet: tanh(beta z) with beta raised by the schedule, so that
  training ends on (almost) sign.

d/dz tanh(beta z) = beta (1 - tanh^2(beta z)) (``tanh_grad``) grows to beta at z = 0 and
vanishes elsewhere as beta grows: |beta z| > 3 leaves less than 1% of the peak
(``vanishing_fraction``). That is the ill-posed problem continuation approaches step by step.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .. import retrieval
from ..config import TrainConfig
from ..conventions import CONVENTION, TIES
from ..methods import method_config
from ..model import HashNet, build_model
from ..train import quantization_error, resolve_device, train

ESTIMATORS = ("sign", "straight_through", "tanh", "continuation")


def sign(z: torch.Tensor) -> torch.Tensor:
    """sign(z) in {-1, +1} (0 -> +1) that autograd differentiates as torch.sign: gradient 0."""
    return torch.sign(z) + (z == 0).to(z.dtype)  # the added term is a constant for autograd


class _StraightThroughSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return torch.where(z >= 0, 1.0, -1.0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (z,) = ctx.saved_tensors
        return grad_output * (z.abs() <= 1).to(grad_output.dtype)  # hardtanh's derivative


def straight_through_sign(z: torch.Tensor) -> torch.Tensor:
    """Forward: sign(z) (0 -> +1). Backward: the gradient of hardtanh(z), 1 where |z| <= 1, else 0."""
    return _StraightThroughSign.apply(z)


def tanh_grad(x, beta: float) -> np.ndarray:
    """d/dx tanh(beta x) = beta (1 - tanh^2(beta x)), float64, elementwise."""
    _check_beta(beta)
    t = np.tanh(beta * np.asarray(x, dtype=np.float64))
    return beta * (1.0 - t * t)


def vanishing_fraction(z, beta: float, rel: float = 0.01) -> float:
    """Fraction of the values z where d/dz tanh(beta z) is below ``rel`` times its peak beta.

    1 - tanh^2(beta z) < rel  <=>  |beta z| > artanh(sqrt(1 - rel))  (about 3.0 for rel = 0.01).
    """
    _check_beta(beta)
    if not 0 < rel < 1:
        raise ValueError(f"rel={rel!r} is invalid: expected a number in (0, 1)")
    z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float64).ravel()
    if z.size == 0:
        raise ValueError("z is empty: expected at least one value")
    return float((tanh_grad(z, beta) < rel * beta).mean())


def straight_through_bias(mu, *, sigma: float = 0.5, target: float = 0.5) -> dict:
    """The straight-through estimator's bias on a one-dimensional problem, exactly.

    z = mu + sigma * eps (eps ~ N(0, 1)), b = sign(z), loss f(b) = (b - target)^2. The
    objective F(mu) = E[f(b)] = P(z >= 0) (1 - target)^2 + P(z < 0) (1 + target)^2 has the
    true gradient dF/dmu = -4 target phi(mu / sigma) / sigma (phi: the standard normal
    density), which for target > 0 always says "raise mu" (b = +1 is the better code). The
    clipped straight-through estimator instead follows
    E[f'(b) 1(|z| <= 1)] = 2 (1 - target) P(0 <= z <= 1) - 2 (1 + target) P(-1 <= z < 0).
    Returns {"mu", "true", "straight_through"} (float64 arrays) and the ``sigma`` and ``target``.
    """
    if sigma <= 0:
        raise ValueError(f"sigma={sigma!r} is invalid: expected a positive number")
    mu = np.asarray(mu, dtype=np.float64)
    cdf = np.vectorize(lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0))))
    pdf = np.exp(-0.5 * (mu / sigma) ** 2) / math.sqrt(2 * math.pi)
    true = -4.0 * target * pdf / sigma
    p_pos = cdf((1 - mu) / sigma) - cdf((0 - mu) / sigma)  # P(0 <= z <= 1)
    p_neg = cdf((0 - mu) / sigma) - cdf((-1 - mu) / sigma)  # P(-1 <= z < 0)
    ste = 2 * (1 - target) * p_pos - 2 * (1 + target) * p_neg
    return {"mu": mu, "true": true, "straight_through": ste, "sigma": float(sigma), "target": float(target)}


# ------------------------------------------------------------------------- the experiment
class BinarizedHashNet(HashNet):
    """A HashNet whose training output is sign(z) itself, differentiated as ``estimator`` says.

    ``estimator="sign"``: autograd's zero derivative; ``"straight_through"``: the clipped
    straight-through estimator. ``forward`` takes beta like HashNet but has no use for it.
    """

    def __init__(self, backbone, feature_dim: int, bits: int, estimator: str):
        if estimator not in ("sign", "straight_through"):
            raise ValueError(f"estimator={estimator!r} is invalid: expected 'sign' or 'straight_through'")
        super().__init__(backbone, feature_dim, bits)
        self.estimator = estimator

    def forward(self, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        z = self.project(x)  # (B, K)
        return sign(z) if self.estimator == "sign" else straight_through_sign(z)


def estimator_config(estimator: str, config: TrainConfig) -> TrainConfig:
    """The training config of an estimator: "tanh" is HashNet-sgn (constant beta = beta0)."""
    _check_estimator(estimator)
    return method_config("HashNet-sgn", config) if estimator == "tanh" else config


def build_estimator_model(estimator: str, config: TrainConfig, input_shape) -> HashNet:
    """The model for ``estimator``, with the same initial weights as ``train.fit`` builds for
    ``config`` (the backbone and the hash layer are drawn in the same order from config.seed)."""
    _check_estimator(estimator)
    if estimator in ("sign", "straight_through"):
        return build_model(config, input_shape, model_class=BinarizedHashNet, estimator=estimator)
    return build_model(config, input_shape)


@torch.no_grad()
def pre_activations(model: HashNet, dataset, *, batch_size: int = 512, device="auto") -> np.ndarray:
    """z = W f(x) + b for every item of ``dataset`` in eval mode, float32 (N, K).

    The model's train/eval mode is restored afterwards, so this can run inside a training
    callback without changing the run (eval mode: no dropout, no batch-norm statistics update).
    """
    device = resolve_device(device)
    was_training = model.training
    model.eval()
    out = []
    try:
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                             generator=torch.Generator())
        for x, _ in loader:
            out.append(model.project(x.to(device)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.bits), np.float32)


def continuous_outputs(estimator: str, z: np.ndarray, beta: float) -> np.ndarray | None:
    """The continuous code an estimator trains with: tanh(beta z), hardtanh(z), or None (sign)."""
    _check_estimator(estimator)
    if estimator in ("tanh", "continuation"):
        return np.tanh(beta * z)
    if estimator == "straight_through":
        return np.clip(z, -1.0, 1.0)
    return None


def evaluate_pre_activations(estimator: str, z_query, z_database, data, beta: float,
                             topk: int | None = None) -> dict:
    """mAP of the binary codes sign(z) and of the continuous outputs, and two distances from
    binary, over the database:

    - ``quantization_error``: mean |forward output - sign(z)|, the output the network computes
      in training: tanh(beta z) for "tanh" and "continuation", sign(z) itself (so 0) for "sign"
      and "straight_through";
    - ``surrogate_gap``: mean |surrogate - sign(z)| of the function whose derivative the
      backward pass uses: tanh(beta z), or hardtanh(z) for "straight_through" (NaN for "sign").
    """
    b_query, b_database = (np.where(z >= 0, 1, -1).astype(np.int8) for z in (z_query, z_database))
    labels = (data.y_query, data.y_database)
    out = {"map_binary": retrieval.mean_average_precision(b_query, b_database, *labels, topk=topk,
                                                          empty=CONVENTION, ties=TIES)}
    h_query = continuous_outputs(estimator, z_query, beta)
    h_database = continuous_outputs(estimator, z_database, beta)
    if h_query is None:
        out.update(map_continuous=float("nan"), quantization_error=0.0, surrogate_gap=float("nan"))
    else:
        out["map_continuous"] = retrieval.mean_average_precision_real(
            h_query, h_database, *labels, topk=topk, empty=CONVENTION, metric="inner")
        gap = quantization_error(torch.from_numpy(h_database))
        out["surrogate_gap"] = gap
        out["quantization_error"] = 0.0 if estimator == "straight_through" else gap  # its forward is sign(z)
    return out


def compare_estimators(data, config: TrainConfig, estimators=ESTIMATORS, *, topk: int | None = None,
                       progress: bool = False) -> list[dict]:
    """Train one model per estimator on ``data`` from the same initial weights; one row each.

    Each row holds:

    - ``estimator``, the ``config`` it trained with and train()'s ``history``;
    - ``map_binary`` (Hamming ranking of sign(z)), ``map_continuous`` (inner-product ranking of
      the continuous outputs; NaN for "sign"), ``map_untrained`` (sign(z) of the initial weights);
    - ``quantization_error``: mean |forward output - sign(z)| over the database (0 for "sign" and
      "straight_through", whose forward pass is sign itself) and ``surrogate_gap``: the same for the
      function the backward pass differentiates (hardtanh for "straight_through"; NaN for "sign");
    - ``grad_norms`` and ``losses`` at every step, ``max_grad_norm``, ``final_loss``;
    - ``weights_moved``: ||W_end - W_start|| / ||W_start|| of the hash layer;
    - ``final_beta`` (NaN for "sign" and "straight_through", which have no beta) and the
      database pre-activations ``z_database`` (N, K).

    With a batch-norm backbone (the CNN) even "sign" changes the codes a little: its forward
    passes update the running statistics, and weight decay shrinks the weights.
    """
    estimators = tuple(estimators)
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown or not estimators:
        raise ValueError(f"estimators={list(estimators)!r}: expected one or more of {ESTIMATORS}")
    rows = []
    for estimator in estimators:
        cfg = estimator_config(estimator, config)
        model = build_estimator_model(estimator, cfg, data.input_shape)
        untrained = evaluate_pre_activations("sign", pre_activations(model, data.query, device=cfg.device),
                                             pre_activations(model, data.database, device=cfg.device),
                                             data, 1.0, topk)["map_binary"]
        w_start = model.hash_layer.weight.detach().clone()
        grad_norms, losses = [], []

        def record(step: int, logs: dict) -> None:  # called after the step: .grad still holds it
            grads = [p.grad.detach().float().pow(2).sum() for p in model.parameters() if p.grad is not None]
            grad_norms.append(float(torch.stack(grads).sum().sqrt()) if grads else 0.0)
            losses.append(logs["loss"])

        history = train(model, data.train, cfg, progress=progress, callback=record)
        beta = history[-1]["beta"]  # the beta of the last step (unused by "sign" and "straight_through")
        z_query = pre_activations(model, data.query, device=cfg.device)
        z_database = pre_activations(model, data.database, device=cfg.device)
        moved = (model.hash_layer.weight.detach().cpu() - w_start.cpu()).norm() / w_start.norm().cpu()
        rows.append({"estimator": estimator,
                     **evaluate_pre_activations(estimator, z_query, z_database, data, beta, topk),
                     "map_untrained": untrained, "weights_moved": float(moved),
                     "final_beta": beta if estimator in ("tanh", "continuation") else float("nan"),
                     "max_grad_norm": max(grad_norms), "grad_norms": grad_norms, "losses": losses,
                     "final_loss": history[-1]["loss"], "history": history, "z_database": z_database,
                     "config": dataclasses.asdict(cfg)})
    return rows


def _check_estimator(estimator: str) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator={estimator!r} is invalid: expected one of {ESTIMATORS}")


def _check_beta(beta: float) -> None:
    if not (isinstance(beta, (int, float, np.floating)) and beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta={beta!r} is invalid: expected a positive finite number")


def beta_as_weight_scale(beta: float, *, seed: int = 0) -> dict:
    """Why raising beta acts partly as a larger learning rate on the hash layer, checked by autograd.

    tanh(beta (x W)) = tanh(x V) with V = beta W: the same outputs. The gradients differ by the
    chain rule, dL/dW = beta dL/dV, so one SGD step of size lr on W moves V = beta W by
    lr * beta^2 * dL/dV: training W at beta is training V at beta = 1 with beta^2 times the
    learning rate. Returns the largest |difference| of the outputs and the ratio
    dL/dW / dL/dV (beta at every entry) on a small random layer and loss.
    """
    _check_beta(beta)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 8, generator=g, dtype=torch.float64)
    w0 = 0.1 * torch.randn(8, 4, generator=g, dtype=torch.float64)
    target = torch.sign(torch.randn(16, 4, generator=g, dtype=torch.float64))
    w = w0.clone().requires_grad_()
    v = (beta * w0).clone().requires_grad_()
    out_w, out_v = torch.tanh(beta * (x @ w)), torch.tanh(x @ v)
    ((out_w - target) ** 2).sum().backward()
    ((out_v - target) ** 2).sum().backward()
    ratio = (w.grad / v.grad).flatten()
    return {"beta": float(beta), "output_difference": float((out_w - out_v).detach().abs().max()),
            "gradient_ratio_min": float(ratio.min()), "gradient_ratio_max": float(ratio.max())}
