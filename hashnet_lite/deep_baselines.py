"""The deep baselines of HashNet's comparison, as losses on the same network.

Every method trains the same backbone and hash layer as HashNet, z = W f(x) + b  (B, K);
only the activation on z and the loss differ. Pairs are formed inside the batch, with
s_ij = 1 when items i and j share a label (``loss.similarity``), and every pair term is a
mean over the B(B-1) ordered pairs i != j, as in ``loss``, so the loss scales compare.

DHN (Zhu, Long, Wang, Cao, "Deep Hashing Network for Efficient Similarity Retrieval",
AAAI 2016): HashNet's predecessor from the same lab. The pairwise likelihood on
h = tanh(z) with beta fixed at 1 (no continuation) and no adaptive scale, plus a smooth
penalty that pulls every |h_ik| to 1 (log cosh x is |x| with a rounded corner at 0):

    theta_ij = alpha <h_i, h_j>
    L = mean_{i!=j} [log(1 + exp(theta_ij)) - s_ij theta_ij] + lambda mean_i sum_k log cosh(|h_ik| - 1)

  Defaults from the first author's Caffe code (github.com/zhuhan1236/dhn-caffe):
  alpha = 1 (src/caffe/layers/pairwise_loss_layer.cu multiplies <h_i, h_j> by nothing;
  the 1/2 of DPSH and the adaptive 10/K of HashNet are not DHN's), lambda = 0.1
  (``q_gamma`` in models/nus_wide/train_val.prototxt). That layer's gradient is lambda
  times the sum over bits and the mean over items of the penalty, as written above; its
  pair mean also counts the B pairs i = j, which this one leaves out, as HashNet's does.

DPSH (Li, Wang, Kang, "Feature Learning Based Deep Supervised Hashing with Pairwise
Labels", IJCAI 2016): the same likelihood with theta = <u_i, u_j> / 2 on real outputs
u = z (no tanh), and a squared distance to the codes b = sign(u) (a constant, no gradient):

    L = [sum_{i!=j} (log(1 + exp(theta_ij)) - s_ij theta_ij) + eta sum_i ||b_i - u_i||^2] / (B(B-1))

  i.e. the paper's objective on the batch, divided by its number of pairs, as the PyTorch
  code of the authors' lab (github.com/jiangqy/DPSH-pytorch, DPSH_CIFAR_10.py) divides
  both terms by its pair count. eta = 10: DPSH_CIFAR_10_demo.py (its NUS-WIDE entry point
  uses 50). That code pairs each batch item with all n stored outputs of the training
  set, which makes the penalty n/B times weaker per item than here.

DSH (Liu, Wang, Shan, Chen, "Deep Supervised Hashing for Fast Image Retrieval", CVPR
2016): a contrastive loss on the squared distance D_ij = ||u_i - u_j||^2 of real outputs
u = z, with margin m, plus an L1 pull of every |u_ik| to 1:

    L = mean_{i!=j} [s_ij D_ij / 2 + (1 - s_ij) max(m - D_ij, 0) / 2] + alpha mean_i || |u_i| - 1 ||_1

  m = 2K and alpha = 0.01: the first author's Caffe code
  (github.com/lhmRyan/deep-supervised-hashing-DSH, CIFAR-10/train_test.prototxt: bi_margin
  24 for K = 12, tradeoff 0.01; its hashing_loss_layer.cpp normalises as written above).

CSQ (Yuan et al., "Central Similarity Quantization for Efficient Image and Video
Retrieval", CVPR 2020): no pairs. Each class has a hash centre c in {-1,+1}^K, and each
code h = tanh(z) is pulled to its item's centre by a binary cross-entropy per bit:

    p = (h + 1) / 2,  t = (c + 1) / 2   (both in [0, 1])
    L = -mean_{i,k} [t_ik log p_ik + (1 - t_ik) log(1 - p_ik)] + lambda mean_{i,k} log cosh(|h_ik| - 1)

  Centres (``hash_centres``): K a power of 2 and C <= 2K: rows of [H_K; -H_K], H_K the
  Sylvester Hadamard matrix, so two centres differ in exactly K/2 bits (K for a row and
  its negation). Otherwise (more classes, or K not a power of 2, where H_K does not exist
  in this form) balanced random rows, K/2 bits of each sign, each at least a minimum
  distance from the others (``balanced_centres``), as the authors' released centres are
  (yuanli2333/Hadamard-Matrix-for-hashing: Hadamard rows at 64 bits, balanced random rows
  at 16 and 32 bits for ImageNet's 100 classes). Unbalanced Bernoulli rows, used here
  before, put two of 100 classes 1 bit apart at 16 bits.
  A multi-label item's centre (``item_centres``) is the sign of the mean of its classes'
  centres; a bit where that mean is 0 takes the bit of one fixed random +-1 vector, as
  in the authors' train.py (Hash_center_multilables), seeded here.
  lambda = 0.001: the authors' README (github.com/yuanli2333/Hadamard-Matrix-for-hashing)
  trains AlexNet with lambda2 = 0.001 (0.0001 for ImageNet at 64 bits; 0.05 for
  ResNet-50). Their code penalises mean (|h| - 1)^2; the paper's log cosh is used here.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
import torch.nn.functional as F

from .checks import check as _check
from .checks import is_finite_number as _number
from .loss import as_label_matrix, similarity


def _outputs_and_similarity(out: torch.Tensor, labels: torch.Tensor, name: str):
    """Checked (B, K) outputs (at least float32) and s_ij of the batch.  (B, K), (B, B)"""
    if out.dim() != 2 or out.shape[0] < 2:
        raise ValueError(f"{name} has shape {tuple(out.shape)}: expected (B, K) with B >= 2 "
                         "(pairs are formed inside the batch)")
    if labels.shape[0] != out.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} rows but {name} has {out.shape[0]}")
    out = out.to(torch.promote_types(out.dtype, torch.float32))
    return out, similarity(labels).to(device=out.device, dtype=out.dtype)


def _pair_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of a (B, B) matrix over the B(B-1) ordered pairs i != j."""
    b = values.shape[0]
    off_diagonal = ~torch.eye(b, dtype=torch.bool, device=values.device)
    return values[off_diagonal].sum() / (b * (b - 1))


def _log_cosh(x: torch.Tensor) -> torch.Tensor:
    """log cosh x = |x| + log(1 + exp(-2|x|)) - log 2, which never overflows."""
    return x.abs() + F.softplus(-2.0 * x.abs()) - math.log(2.0)


def dhn_loss(h: torch.Tensor, labels: torch.Tensor, *, alpha: float = 1.0, penalty: float = 0.1) -> torch.Tensor:
    """DHN on h = tanh(z) (B, K): pairwise cross-entropy + penalty (the paper's lambda) * log cosh."""
    _check(_number(alpha) and alpha > 0, "alpha", alpha, "a positive number")
    _check(_number(penalty) and penalty >= 0, "penalty", penalty, "a number >= 0")
    h, s = _outputs_and_similarity(h, labels, "h")  # (B, K), (B, B)
    theta = alpha * (h @ h.T)  # (B, B)
    pair = _pair_mean(F.softplus(theta) - s * theta)  # -log p(s_ij | h_i, h_j)
    quantization = _log_cosh(h.abs() - 1.0).sum(dim=1).mean()  # sum over bits, mean over items
    return pair + penalty * quantization


def dpsh_loss(u: torch.Tensor, labels: torch.Tensor, *, eta: float = 10.0) -> torch.Tensor:
    """DPSH on u = z (B, K): likelihood with theta = <u_i, u_j> / 2 + eta ||sign(u) - u||^2."""
    _check(_number(eta) and eta >= 0, "eta", eta, "a number >= 0")
    u, s = _outputs_and_similarity(u, labels, "u")  # (B, K), (B, B)
    b = torch.where(u >= 0, 1.0, -1.0).to(u.dtype).detach()  # b = sign(u), 0 -> +1, a constant
    theta = 0.5 * (u @ u.T)  # (B, B)
    nll = F.softplus(theta) - s * theta  # (B, B)
    n_pairs = u.shape[0] * (u.shape[0] - 1)
    return _pair_mean(nll) + eta * ((b - u) ** 2).sum() / n_pairs


def dsh_loss(u: torch.Tensor, labels: torch.Tensor, *, margin: float | None = None,
             reg: float = 0.01) -> torch.Tensor:
    """DSH on u = z (B, K): contrastive loss, margin m (None: 2K) + reg (the paper's alpha) * L1."""
    _check(margin is None or (_number(margin) and margin > 0), "margin", margin, "None (2K) or a positive number")
    _check(_number(reg) and reg >= 0, "reg", reg, "a number >= 0")
    u, s = _outputs_and_similarity(u, labels, "u")  # (B, K), (B, B)
    m = 2.0 * u.shape[1] if margin is None else float(margin)
    d = ((u[:, None, :] - u[None, :, :]) ** 2).sum(dim=2)  # (B, B): D_ij = ||u_i - u_j||^2
    contrastive = 0.5 * s * d + 0.5 * (1.0 - s) * torch.clamp(m - d, min=0.0)  # (B, B)
    regulariser = (u.abs() - 1.0).abs().sum(dim=1).mean()  # || |u_i| - 1 ||_1, mean over items
    return _pair_mean(contrastive) + reg * regulariser


def hash_centres(num_classes: int, bits: int, *, seed: int = 0) -> torch.Tensor:
    """CSQ's hash centres, one +-1 row per class: Hadamard rows or Bernoulli signs.  (C, K)"""
    _check(isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 1,
           "num_classes", num_classes, "an integer >= 1")
    _check(isinstance(bits, int) and not isinstance(bits, bool) and bits >= 1, "bits", bits, "an integer >= 1")
    if hadamard_fits(num_classes, bits):
        hadamard = torch.ones(1, 1)  # Sylvester: H_2n = [[H, H], [H, -H]]
        while hadamard.shape[0] < bits:
            hadamard = torch.cat([torch.cat([hadamard, hadamard], 1), torch.cat([hadamard, -hadamard], 1)], 0)
        return torch.cat([hadamard, -hadamard], 0)[:num_classes]  # (C, K): rows of [H_K; -H_K]
    return balanced_centres(num_classes, bits, seed=seed)


def hadamard_fits(num_classes: int, bits: int) -> bool:
    """Whether CSQ's centres are Hadamard rows: K a power of 2 and C <= 2K."""
    return bits & (bits - 1) == 0 and num_classes <= 2 * bits


def balanced_centres(num_classes: int, bits: int, *, seed: int = 0, tries: int = 1000) -> torch.Tensor:
    """Random centres as the CSQ authors drew them where no Hadamard matrix fits: each row
    balanced (K // 2 bits of -1, the rest +1, in a seeded random order), kept only if it is
    at least d bits from every row before it. d starts at K / 2 and is lowered by one after
    ``tries`` rejected draws, so that any C fits.  (C, K)"""
    g = torch.Generator().manual_seed(seed)
    base = torch.ones(bits)
    base[: bits // 2] = -1.0
    rows, min_distance, rejected = [], bits // 2, 0
    while len(rows) < num_classes:
        row = base[torch.randperm(bits, generator=g)]
        if all(int((row != r).sum()) >= min_distance for r in rows):
            rows.append(row)
            rejected = 0
        else:
            rejected += 1
            if rejected >= tries:
                min_distance, rejected = max(1, min_distance - 1), 0
    return torch.stack(rows)  # (C, K)


def item_centres(labels: torch.Tensor, centres: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Each item's CSQ target: its class centre, or sign(mean of its classes' centres).  (B, K)

    Bits where the mean is 0 (and items without a label) take the bits of one fixed
    random +-1 vector, drawn from ``seed``.
    """
    if centres.dim() != 2:
        raise ValueError(f"centres has shape {tuple(centres.shape)}: expected (C, K)")
    num_classes = centres.shape[0]
    if labels.dim() == 1:
        bad = labels[(labels < 0) | (labels >= num_classes)]
        _check(bad.numel() == 0, "labels", bad.tolist()[:5], f"class ids in [0, {num_classes}) "
               f"(centres has {num_classes} rows)")
        return centres[labels.long()]  # (B, K)
    if labels.dim() != 2 or labels.shape[1] != num_classes:
        raise ValueError(f"labels has shape {tuple(labels.shape)}: expected (B,) class ids or "
                         f"(B, {num_classes}) multi-hot rows (centres has {num_classes} rows)")
    y = (as_label_matrix(labels) > 0).to(centres.dtype)  # (B, C): 1 where the item has the class
    mean = (y @ centres) / y.sum(dim=1, keepdim=True).clamp(min=1.0)  # (B, K): mean of the item's centres
    g = torch.Generator().manual_seed(seed)
    tie = (torch.randint(0, 2, (centres.shape[1],), generator=g) * 2 - 1).to(centres)  # (K,)
    return torch.where(mean > 0, 1.0, torch.where(mean < 0, -1.0, tie)).to(centres.dtype)  # sign, ties -> tie


def csq_loss(h: torch.Tensor, targets: torch.Tensor, *, lam: float = 0.001) -> torch.Tensor:
    """CSQ on h = tanh(z) (B, K) and centres (B, K): BCE per bit + lam (the paper's lambda) * log cosh."""
    _check(_number(lam) and lam >= 0, "lam", lam, "a number >= 0")
    if h.dim() != 2:
        raise ValueError(f"h has shape {tuple(h.shape)}: expected (B, K)")
    if targets.shape != h.shape:
        raise ValueError(f"targets has shape {tuple(targets.shape)} but h has {tuple(h.shape)}")
    if not bool(((targets == 1) | (targets == -1)).all()):
        raise ValueError("targets has entries other than -1 and +1: expected hash centres")
    h = h.to(torch.promote_types(h.dtype, torch.float32))
    p, t = (h + 1.0) / 2.0, (targets.to(h) + 1.0) / 2.0  # (B, K), both in [0, 1]
    central = F.binary_cross_entropy(p, t)  # mean over items and bits (log clamped at -100)
    return central + lam * _log_cosh(h.abs() - 1.0).mean()


@dataclass(frozen=True)
class DeepBaseline:
    """Everything the package knows about one deep baseline, in one record: the registry
    (``methods.REGISTRY``), the training loop, ``tune``, the CLI's help and the plots read it.
    A new baseline is its loss function above and one entry of ``DEEP_BASELINES``."""

    name: str
    output: str  # "tanh": h = tanh(z); "linear": u = z
    loss: Callable[..., torch.Tensor]  # loss(output, labels or targets, **defaults) -> scalar
    defaults: Mapping[str, float | None]
    citation: str
    summary: str  # one line: what it trains
    quantization_key: str  # the key of ``defaults`` that TrainConfig.quantization_weight sets
    # tune's search over the trade-off (the first value: the paper's default), and the authors'
    # own (hash-layer lr multiplier, trade-off), tried first after the common setting.
    trade_offs: tuple[float, ...]
    authors: tuple[float, float]
    style: Mapping[str, object]  # matplotlib line style in the results figures
    needs_centres: bool = False  # CSQ: the loss takes item_centres(labels, centres)
    # A per-item term weighed against pair terms summed over the whole training set (DPSH's
    # eta): its key, rescaled by (B - 1) / N for a batch of B (``methods.Objective``).
    per_item_key: str | None = None

    def __post_init__(self) -> None:
        _check(self.output in ("tanh", "linear"), "output", self.output, "'tanh' or 'linear'")
        _check(self.quantization_key in self.defaults, "quantization_key", self.quantization_key,
               f"a key of defaults {sorted(self.defaults)}")
        _check(self.per_item_key is None or self.per_item_key in self.defaults, "per_item_key", self.per_item_key,
               f"None or a key of defaults {sorted(self.defaults)}")
        _check(len(self.trade_offs) >= 1 and self.trade_offs[0] == self.defaults[self.quantization_key],
               "trade_offs", self.trade_offs, f"values starting with the paper's default "
               f"{self.quantization_key}={self.defaults[self.quantization_key]}")

    def activate(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z) if self.output == "tanh" else z


DEEP_BASELINES = MappingProxyType({b.name: b for b in (
    DeepBaseline("DHN", "tanh", dhn_loss, MappingProxyType({"alpha": 1.0, "penalty": 0.1}),
                 "Zhu, Long, Wang, Cao. Deep Hashing Network for Efficient Similarity Retrieval. AAAI 2016.",
                 "pairwise likelihood on tanh(z) + a log-cosh quantization penalty", "penalty",
                 # lambda: 0.1 in the first commit of the authors' file, 0.3 in its current one
                 trade_offs=(0.1, 0.3, 0.03), authors=(10.0, 0.3), style=MappingProxyType(dict(color="C4", marker="P"))),
    DeepBaseline("DPSH", "linear", dpsh_loss, MappingProxyType({"eta": 10.0}),
                 "Li, Wang, Kang. Feature Learning Based Deep Supervised Hashing with Pairwise Labels. IJCAI 2016.",
                 "pairwise likelihood on real outputs + ||sign(u) - u||^2", "eta",
                 # the authors train every layer at one rate
                 trade_offs=(10.0, 1.0, 50.0), authors=(1.0, 10.0), style=MappingProxyType(dict(color="C5", marker="X")),
                 per_item_key="eta"),
    DeepBaseline("DSH", "linear", dsh_loss, MappingProxyType({"margin": None, "reg": 0.01}),
                 "Liu, Wang, Shan, Chen. Deep Supervised Hashing for Fast Image Retrieval. CVPR 2016.",
                 "contrastive loss with margin 2K on real outputs + an L1 pull to +-1", "reg",
                 trade_offs=(0.01, 0.001, 0.1), authors=(1.0, 0.01), style=MappingProxyType(dict(color="C6", marker="*"))),
    DeepBaseline("CSQ", "tanh", csq_loss, MappingProxyType({"lam": 0.001}),
                 "Yuan, Wang, Zhang, Tay, Jie, Liu, Feng. Central Similarity Quantization for Efficient "
                 "Image and Video Retrieval. CVPR 2020.",
                 "binary cross-entropy toward a hash centre per class + quantization", "lam",
                 # the authors' backbone runs at 0.01x its head
                 trade_offs=(0.001, 0.0001, 0.01), authors=(100.0, 0.001),
                 style=MappingProxyType(dict(color="C8", marker="h")), needs_centres=True),
)})


def baseline_loss(name: str, z: torch.Tensor, labels: torch.Tensor, *, centres: torch.Tensor | None = None,
                  **hyper) -> torch.Tensor:
    """The loss of method ``name`` on the raw projection z (B, K); ``hyper`` overrides its defaults."""
    _check(name in DEEP_BASELINES, "name", name, f"one of {list(DEEP_BASELINES)}")
    method = DEEP_BASELINES[name]
    unknown = sorted(set(hyper) - set(method.defaults))
    _check(not unknown, "hyper", unknown, f"keys among {sorted(method.defaults)} for {name}")
    out = method.activate(z)
    if method.needs_centres:
        _check(centres is not None, "centres", centres, f"a (C, K) tensor of hash centres for {name}")
        return method.loss(out, item_centres(labels, centres.to(out.device)), **{**method.defaults, **hyper})
    return method.loss(out, labels, **{**method.defaults, **hyper})
