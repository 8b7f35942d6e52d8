"""Where and how a model trains: the device, the process group, the memory layout, the
arithmetic and the compiler, and the pieces of a step that depend on them (the gather of
the batch's outputs across ranks, the scaled backward pass and the SGD step). None of it
changes what a step computes, only where and how fast (and, for mixed precision and
channels_last, the last bits of the result).

``place(model, config)`` moves the model; ``Placement.wrap`` then gives the network the step
calls: the model with its backbone compiled, wrapped for DistributedDataParallel (after a
resume has loaded its weights); ``Placement.release`` returns the model, contiguous and in
eval mode, as ``encode`` expects it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from . import distributed
from .config import TrainConfig


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d+)?", str(device)):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
        index, count = torch.device(device).index, torch.cuda.device_count()
        if index is not None and index >= count:
            raise ValueError(f"device={device!r}: there is no GPU {index}; this machine has {count} "
                             f"(cuda:0 to cuda:{count - 1})")
        return torch.device(device)
    raise ValueError(f"device={device!r} is invalid: expected 'auto', 'cpu', 'cuda' or 'cuda:N'")


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The low-precision type of the forward pass: None (fp32) on the CPU or at precision fp32."""
    if config.precision == "fp32" or device.type != "cuda":
        return None
    return torch.bfloat16 if config.precision == "bf16" else torch.float16


def is_convolutional(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


@dataclass
class Placement:
    """One run's placement, made by ``place``: the device and rank, the layout and the
    arithmetic, and the pieces of the step that depend on them."""

    config: TrainConfig
    device: torch.device
    rank: int
    world_size: int
    channels_last: bool
    low: torch.dtype | None  # the autocast type; None: fp32
    scaler: torch.amp.GradScaler

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def gather(self, local: torch.Tensor) -> torch.Tensor:
        """The whole batch's rows in rank order, this rank's carrying gradient (distributed.py)."""
        return distributed.gather_with_local_grad(local)

    def autocast(self):
        """The step's arithmetic; fp32 switches off any autocast the caller is inside."""
        if self.low is None:
            return torch.autocast(device_type=self.device.type, enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.low)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """One SGD step on ``loss``. Under DDP the loss is scaled by the world size: DDP averages
        the ranks' gradients, and each rank's is its share of the full-batch sum
        (distributed.py). fp16 goes through the GradScaler; bf16 and fp32 need no scaling."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss * self.world_size).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` compiled (``config.compile``) and, under torchrun, wrapped for DDP."""
        if self.config.compile:
            model = CompiledBackbone(model, "default" if self.config.compile is True else self.config.compile)
        if self.world_size > 1:
            # SyncBatchNorm only runs on GPUs; on CPU (gloo) each rank keeps per-shard BN
            # statistics and DDP broadcasts rank 0's buffers.
            if self.device.type == "cuda" and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                                  for m in model.modules()):
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        return model

    def release(self, model: nn.Module) -> None:
        """The model contiguous and in eval mode (it was never compiled itself: ``CompiledBackbone``)."""
        if self.channels_last:
            model.to(memory_format=torch.contiguous_format)
        model.eval()

    def agree(self, flag: bool) -> bool:
        """True on every rank if it is True on any (the ranks' clocks differ)."""
        if self.world_size == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())


class CompiledBackbone(nn.Module):
    """The network a compiled run's step calls: ``model``'s own layers, its backbone run
    through torch.compile. The model itself is left as it is, so its parameter names (and
    the checkpoints), ``encode`` on other batch shapes, and a copy taken during training
    (an EMA, a snapshot) all see the plain eager model."""

    def __init__(self, model: nn.Module, mode: str):
        super().__init__()
        self.model = model
        # Not registered as a submodule: the parameters are the model's, counted once.
        object.__setattr__(self, "compiled", torch.compile(model.backbone, mode=mode))

    def forward(self, x: torch.Tensor, beta: float | None = 1.0) -> torch.Tensor:
        return self.model.activate(self.model.hash_layer(self.compiled(x)), beta)


def place(model: nn.Module, config: TrainConfig) -> Placement:
    """Moves ``model`` to ``config.device`` (joining the torchrun group, if any) in the layout
    its convolutions want: channels_last on CUDA, where cuDNN's tensor-core kernels want it;
    on the CPU only when ``config.channels_last`` asks (oneDNN is faster in it too, but the
    last bits of a run change)."""
    device = resolve_device(config.device)
    distributed.init_process_group(device)
    rank, world_size = distributed.world()
    wanted = device.type == "cuda" if config.channels_last is None else config.channels_last
    channels_last = wanted and is_convolutional(model)
    model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    low = autocast_dtype(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=low == torch.float16)
    return Placement(config, device, rank, world_size, channels_last, low, scaler)
