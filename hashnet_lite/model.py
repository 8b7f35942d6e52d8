"""Backbones + the hash layer: h = tanh(beta * z), z = W f(x) + b (paper Sec. 3.1).

The model never keeps a step counter: ``forward(x, beta)`` takes beta from the
training loop (see ``continuation``). At test time the code is sign(z) in {-1, +1}^K,
with 0 mapped to +1.

Backbones: ``mlp`` (feature vectors), ``cnn`` (small images: 8x8, 28x28, 32x32) and
torchvision's ``alexnet``, ``resnet18``, ``resnet50``, ``vgg16``. Images are adapted to
what a torchvision backbone needs (grey -> 3 channels, upsampled to its smallest working
size, ImageNet normalisation when the weights are pretrained), so every backbone runs on
every image data set instead of crashing on the small ones.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check

TORCHVISION_BACKBONES = ("alexnet", "resnet18", "resnet50", "vgg16")
# Smallest input side each torchvision backbone accepts (alexnet's stride-4 stem and
# three max-pools need 63 pixels; the others need 32 to keep their pools non-empty).
_MIN_SIDE = {"alexnet": 64, "resnet18": 32, "resnet50": 32, "vgg16": 32}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class MLP(nn.Module):
    """Two hidden layers for feature vectors (N, D)."""

    def __init__(self, in_features: int, hidden: int = 512, dropout: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
        )
        self.out_features = hidden

    def forward(self, x):  # (B, D) -> (B, hidden)
        return self.net(x.flatten(1))


class SmallCNN(nn.Module):
    """Conv blocks at three resolutions for small images (B, C, H, W), H and W from 8 up."""

    def __init__(self, in_channels: int, hidden: int = 512, dropout: float = 0.2, width: int = 16,
                 convs: int = 3):
        super().__init__()
        check(isinstance(convs, int) and not isinstance(convs, bool) and 3 <= convs <= 6,
              "convs", convs, "an integer from 3 to 6")

        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        # width-2w-4w channels at full, 1/2 and 1/4 resolution (16-32-64 by default: a 28x28
        # image costs ~2M multiply-adds, so Fashion-MNIST trains in minutes on a CPU). One conv
        # per resolution; ``convs`` beyond 3 add a second one, at the smallest resolution first.
        # Each second conv costs the same multiply-adds (the channels double as the side halves),
        # but at 7x7 it moves the least activation memory and sees the widest part of the image.
        w = width
        per_stage = {3: (1, 1, 1), 4: (1, 1, 2), 5: (1, 2, 2), 6: (2, 2, 2)}[convs]  # full, 1/2, 1/4

        def stage(c_in, c_out, n):
            return block(c_in, c_out) + [layer for _ in range(n - 1) for layer in block(c_out, c_out)]

        self.features = nn.Sequential(
            *stage(in_channels, w, per_stage[0]), nn.MaxPool2d(2, ceil_mode=True),
            *stage(w, 2 * w, per_stage[1]), nn.MaxPool2d(2, ceil_mode=True),
            *stage(2 * w, 4 * w, per_stage[2]), nn.AdaptiveAvgPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 4, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout))
        self.out_features = hidden

    def forward(self, x):  # (B, C, H, W) -> (B, hidden)
        return self.head(self.features(x))


class ImageAdapter(nn.Module):
    """Makes any (B, C, H, W) batch acceptable to a torchvision backbone."""

    def __init__(self, in_channels: int, min_side: int, normalize: bool):
        super().__init__()
        self.repeat = 3 if in_channels == 1 else 1
        self.min_side = min_side
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        if self.repeat > 1:
            x = x.expand(-1, 3, -1, -1)
        if min(x.shape[-2:]) < self.min_side:
            x = F.interpolate(x, size=(max(self.min_side, x.shape[-2]), max(self.min_side, x.shape[-1])),
                              mode="bilinear", align_corners=False)
        if self.normalize:
            x = (x - self.mean) / self.std
        return x


def torchvision_backbone(name: str, in_channels: int, pretrained: bool) -> tuple[nn.Module, int]:
    """(backbone without its classifier, feature width) for a torchvision model."""
    import torchvision

    if in_channels not in (1, 3):
        raise ValueError(f"backbone={name!r} needs 1- or 3-channel images, got {in_channels} channels")
    weights = None
    if pretrained:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        _ensure_weights_file(name, weights)
    net = torchvision.models.get_model(name, weights=weights)
    if name.startswith("resnet"):
        width = net.fc.in_features
        net.fc = nn.Identity()
    else:  # alexnet, vgg16: keep fc6/fc7 (the paper's AlexNet features), drop fc8
        width = net.classifier[-1].in_features
        net.classifier[-1] = nn.Identity()
    adapter = ImageAdapter(in_channels, _MIN_SIDE[name], normalize=pretrained)
    return nn.Sequential(adapter, net), width


class PretrainedWeightsUnavailable(RuntimeError):
    """The torchvision weights file is missing and cannot be downloaded (offline)."""


def _ensure_weights_file(name: str, weights) -> None:
    """Fetch the pretrained file, or say exactly which file to put where when offline."""
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    filename = weights.url.rsplit("/", 1)[-1]
    if (checkpoints / filename).is_file():
        return
    try:
        torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True)
    except Exception as err:  # URLError, socket errors, ... when offline
        raise PretrainedWeightsUnavailable(
            f"pretrained=True for backbone={name!r} needs the file {filename} and it could not be "
            f"downloaded ({type(err).__name__}: {err}). Download it on a machine with network access "
            f"from {weights.url} and put it at {checkpoints / filename} "
            f"(the folder is $TORCH_HOME/hub/checkpoints), or use pretrained=False."
        ) from err


class HashNet(nn.Module):
    """backbone -> hash layer (K outputs, N(0, 0.01) weights, zero bias) -> tanh(beta z)."""

    def __init__(self, backbone: nn.Module, feature_dim: int, bits: int):
        super().__init__()
        if bits < 1:
            raise ValueError(f"bits={bits!r} is invalid: expected an integer >= 1")
        self.backbone = backbone
        self.hash_layer = nn.Linear(feature_dim, bits)
        nn.init.normal_(self.hash_layer.weight, mean=0.0, std=0.01)
        nn.init.zeros_(self.hash_layer.bias)
        self.bits = bits

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """z = W f(x) + b, the pre-activation.  (B, K)"""
        return self.hash_layer(self.backbone(x))

    def forward(self, x: torch.Tensor, beta: float | None = 1.0) -> torch.Tensor:
        """h = tanh(beta * z), the continuous code used in training.  (B, K)

        ``beta=None`` returns z itself: the real-valued output that DPSH and DSH train."""
        z = self.project(x)
        return self.activate(z, beta)

    @staticmethod
    def activate(z: torch.Tensor, beta: float | None) -> torch.Tensor:
        """tanh(beta z), or z itself for ``beta=None``."""
        return z if beta is None else torch.tanh(beta * z)

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """sign(z) in {-1, +1} as int8, with sign(0) := +1.  (B, K)"""
        return binarize(self.project(x))


def binarize(z: torch.Tensor) -> torch.Tensor:
    """sign(z) with 0 -> +1, as int8 (never 0)."""
    return torch.where(z >= 0, 1, -1).to(torch.int8)


def resolve_backbone(name: str, input_shape: tuple[int, ...]) -> str:
    """'auto' -> 'mlp' for feature vectors (D,), 'cnn' for images (C, H, W)."""
    if name == "auto":
        return "mlp" if len(input_shape) == 1 else "cnn"
    return name


def build_backbone(name: str, input_shape: tuple[int, ...], *, pretrained: bool = False,
                   hidden: int = 512, dropout: float = 0.2, width: int = 16,
                   convs: int = 3) -> tuple[nn.Module, int]:
    """(backbone, feature width) for inputs of ``input_shape`` (without the batch axis).

    ``dropout`` applies to the mlp/cnn backbones (torchvision models keep their own).
    """
    name = resolve_backbone(name, input_shape)
    if name not in ("mlp", "cnn") + TORCHVISION_BACKBONES:
        raise ValueError(f"backbone={name!r} is unknown: expected 'auto', 'mlp', 'cnn' or one of {TORCHVISION_BACKBONES}")
    if name == "mlp":
        if pretrained:
            raise ValueError("pretrained=True is only available for torchvision backbones "
                             f"{TORCHVISION_BACKBONES}, not 'mlp'")
        in_features = 1
        for side in input_shape:
            in_features *= side
        net = MLP(in_features, hidden, dropout)
        return net, net.out_features
    if len(input_shape) != 3:
        raise ValueError(f"backbone={name!r} needs images (C, H, W) but the data are feature "
                         f"vectors of shape {tuple(input_shape)}; use backbone='mlp' or 'auto'")
    if name == "cnn":
        if pretrained:
            raise ValueError("pretrained=True is only available for torchvision backbones "
                             f"{TORCHVISION_BACKBONES}, not 'cnn'")
        net = SmallCNN(input_shape[0], hidden, dropout, width, convs)
        return net, net.out_features
    if name in TORCHVISION_BACKBONES:
        return torchvision_backbone(name, input_shape[0], pretrained)
    raise ValueError(f"backbone={name!r} is unknown: expected 'auto', 'mlp', 'cnn' or one of {TORCHVISION_BACKBONES}")


def backbone_for(config, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    """``build_backbone`` with the backbone fields of a ``TrainConfig``."""
    return build_backbone(config.backbone, tuple(input_shape), pretrained=config.pretrained,
                          hidden=config.hidden, dropout=config.dropout, width=config.width,
                          convs=config.convs)


def build_model(config, input_shape: tuple[int, ...], *, model_class: type = None, **extra) -> HashNet:
    """The HashNet for a ``TrainConfig`` and inputs of ``input_shape``, its initial weights drawn
    from ``config.seed`` (the caller's global RNG is left as it was).

    ``model_class`` (a HashNet subclass taking ``extra`` keyword arguments) lets a lesson build a
    variant with exactly the same initial weights: the backbone and the hash layer are drawn in
    the same order.
    """
    model_class = HashNet if model_class is None else model_class
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        backbone, feature_dim = backbone_for(config, input_shape)
        return model_class(backbone, feature_dim, config.bits, **extra)
