"""DistributedDataParallel support for ``torchrun --nproc_per_node N``.

Only what the training loop needs: whether we run under torchrun, rank and world size,
a process group (NCCL on GPUs, gloo on CPU), and an all-gather of the batch's codes.

HashNet's loss is over *all pairs of the batch*, so it does not split into per-shard
losses. Each rank encodes its shard of the global batch, gathers every shard's codes,
puts its own (gradient-carrying) codes in its slot and evaluates the full-batch loss.
The gradient each rank backpropagates is then exactly the full-batch gradient's share
of its own samples; DDP averages gradients over ranks, so the loss is scaled by the
world size to make that average a sum. The result is the model a single process
training on the whole batch would get, up to float rounding, when nothing random differs
per rank: dropout, crops and random erasing are drawn per rank for its own shard.
"""
from __future__ import annotations

import atexit
import gc
import os

import torch
import torch.distributed as dist


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_process_group(device: torch.device) -> None:
    """Joins the torchrun group once (no-op when already joined or not under torchrun)."""
    if launched_by_torchrun() and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        # Without a destroy, the group's C++ threads are still running when the interpreter
        # exits and the process aborts ("terminate called without an active exception",
        # pytorch/pytorch#190489): leave the group at exit if the caller did not.
        atexit.register(_destroy)


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    return world()[0] == 0


def gather_with_local_grad(local: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``local`` (equal shapes) in rank order; only this
    rank's slice carries gradient."""
    rank, size = world()
    if size == 1:
        return local
    parts = [torch.empty_like(local) for _ in range(size)]
    dist.all_gather(parts, local.detach().contiguous())
    parts[rank] = local
    return torch.cat(parts)


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group when every rank is done with it (a barrier, then destroy);
    no-op outside one. Call it at the end of a torchrun script; ``init_process_group``
    also leaves the group at exit, without the barrier."""
    barrier()
    _destroy()


def _destroy() -> None:
    if dist.is_available() and dist.is_initialized():
        # DDP wrappers sit in reference cycles and hold the group (and its threads) until
        # the collector runs; collect them first so the group is really gone when destroyed.
        gc.collect()
        dist.destroy_process_group()
