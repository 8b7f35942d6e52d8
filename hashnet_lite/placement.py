"""Where and how a model trains: the device, the process group, the memory layout, the
arithmetic and the compiler. None of it changes what a step computes, only where and how
fast (and, for mixed precision and channels_last, the last bits of the result).

``place(model, config)`` moves the model; ``Placement.wrap`` then compiles it and wraps it
for DistributedDataParallel (after a resume has loaded its weights); ``Placement.release``
returns the plain, eager, contiguous model that ``encode`` expects.
"""
from __future__ import annotations

import contextlib
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
    config: TrainConfig
    device: torch.device
    rank: int
    world_size: int
    channels_last: bool
    low: torch.dtype | None  # the autocast type; None: fp32
    scaler: torch.amp.GradScaler
    net: nn.Module | None = None  # what the step calls: the model, or its DDP wrapper (``wrap``)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def gather(self, local: torch.Tensor) -> torch.Tensor:
        """The whole batch's rows in rank order, this rank's carrying gradient (distributed.py)."""
        return distributed.gather_with_local_grad(local)

    def autocast(self):
        if self.low is None:
            return contextlib.nullcontext()
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
            # The backbone's forward only, replaced on the instance: the module, its parameter
            # names (and so the checkpoints) stay as they are, and ``release`` deletes it.
            mode = "default" if self.config.compile is True else self.config.compile
            model.backbone.forward = torch.compile(model.backbone.forward, mode=mode)
        self.net = model
        if self.world_size > 1:
            # SyncBatchNorm only runs on GPUs; on CPU (gloo) each rank keeps per-shard BN
            # statistics and DDP broadcasts rank 0's buffers.
            if self.device.type == "cuda" and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                                  for m in model.modules()):
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        return self.net

    def release(self, model: nn.Module) -> None:
        """Back to the eager, contiguous model in eval mode (encode() sees other batch shapes)."""
        if "forward" in vars(model.backbone):
            del model.backbone.forward
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
