"""The training loop: owns the step counter, the device, checkpoints and the history.

One step (paper Sec. 3): take a mini-batch, h = tanh(beta_t z) with beta_t from the
continuation schedule, the weighted pairwise likelihood over all pairs of the batch,
SGD (momentum 0.9, weight decay 5e-4, hash layer at 10x the backbone's lr, lr halved
every ``lr_step`` iterations).

Determinism: every source of randomness is a function of (seed, step): the batch order
of epoch e comes from a generator seeded with (seed, e), dropout and augmentation from
a generator seeded with (seed, step). So a run resumed from a checkpoint continues to
exactly the result of an uninterrupted one, and the global RNG of the caller is left
as it was.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from . import distributed
from .batches import held_in_arrays, inference_batches, seed_for, training_batches
from .checkpoint import load_model  # noqa: F401 (re-exported)
from .checkpoint import check_resumable, load_checkpoint_state, non_finite_weights, save_checkpoint
from .config import TrainConfig
from .continuation import beta_at
from .errors import CheckpointError, TrainingDiverged
from .methods import Objective
from .model import HashNet, binarize, build_model

StepCallback = Callable[[int, dict], None]


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


def lr_at(step: int, config: TrainConfig) -> float:
    """Backbone learning rate at ``step``: step decay (x lr_decay every lr_step iterations)."""
    return config.lr * config.lr_decay ** (step // config.lr_step)


def make_optimizer(model: HashNet, config: TrainConfig) -> torch.optim.SGD:
    """SGD with the hash layer at ``hash_lr_mult`` x the backbone's learning rate."""
    return torch.optim.SGD(
        [{"params": model.backbone.parameters(), "lr": config.lr, "lr_mult": 1.0},
         {"params": model.hash_layer.parameters(), "lr": config.lr * config.hash_lr_mult,
          "lr_mult": config.hash_lr_mult}],
        lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
    )


def quantization_error(h: torch.Tensor) -> float:
    """mean |h - sign(h)|: how far the continuous codes are from binary."""
    h = h.detach().float()
    return (h - torch.where(h >= 0, 1.0, -1.0)).abs().mean().item()


def training_dataset(dataset: Dataset, config: TrainConfig) -> Dataset:
    """``dataset`` with the augmentation ``config.augment`` asks for: True keeps the data
    set's own, False removes it, 'crop' / 'crop-flip' sets that one (images in arrays, or
    image files through their own random crop); then random erasing when ``config.erase``
    is set (images in arrays)."""
    dataset = _with_augment(dataset, config)
    if not config.erase:
        return dataset
    if not held_in_arrays(dataset):
        raise ValueError(f"erase={config.erase} needs images held in arrays (fashion-mnist, cifar10, npz:); "
                         f"{type(dataset).__name__} is not: use erase=0")
    from .data.augment import then_erase

    # Part of the data set's augmentation, so drawn where its crop is drawn (on the training
    # device, or in a loader worker), right after it, from the step's seeded generator.
    return dataset.with_augmentation(then_erase(dataset.augment, config.erase, tuple(dataset.x.shape[1:])))


def _with_augment(dataset: Dataset, config: TrainConfig) -> Dataset:
    if config.augment is True:
        return dataset
    if config.augment is False:
        return dataset.without_augmentation() if hasattr(dataset, "without_augmentation") else dataset
    if hasattr(dataset, "with_named_augmentation"):  # image files: their own crop, with or without flip
        return dataset.with_named_augmentation(config.augment)
    if not hasattr(dataset, "with_augmentation"):
        raise ValueError(f"augment={config.augment!r} needs images (fashion-mnist, cifar10, npz:, list:); "
                         f"{type(dataset).__name__} cannot be cropped: use augment=True or False")
    from .data.augment import augmentation

    return dataset.with_augmentation(augmentation(config.augment, tuple(dataset.x.shape[1:])))


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The low-precision type of the forward pass: None (fp32) on the CPU or with amp off."""
    if not config.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if config.precision == "bf16" else torch.float16


def is_convolutional(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def train(model: HashNet, dataset: Dataset, config: TrainConfig, *, progress: bool = True,
          callback: StepCallback | None = None, checkpoint: str | Path | None = None,
          resume: bool = False, meta: dict | None = None, on_device: bool | None = None) -> list[dict]:
    """Train ``model`` on ``dataset`` (items (x, y) with y multi-hot) for ``config.iters`` steps.

    Returns the history: one dict per logged step with ``step``, ``loss`` (mean since the
    last record), ``beta``, ``lr``, ``quantization_error`` (mean |h - sign(h)|) and
    ``seconds``. ``callback(step, logs)`` is called after every step. With ``checkpoint``
    set, state is saved there atomically every ``config.checkpoint_interval`` steps (a tenth
    of the run unless ``checkpoint_every`` is set), at least every ``checkpoint_seconds`` of
    training (checked at logged steps) and at the end; ``resume=True`` continues from it when
    it exists, if it belongs to this run (``checkpoint.check_resumable``: config, data, steps).
    ``meta`` (plain data: the data spec, input shape, data fingerprint) is stored in the
    checkpoint beside the config.

    Batches come from ``batches.training_batches``: held on the device when the data are
    arrays that fit, image lists decoded on the device on a GPU (``on_device=None`` decides;
    True/False force a path), else through a DataLoader. Nothing is read back from a GPU at a step unless it is logged, checkpointed,
    or ``callback`` is given (a callback gets each step's loss, so each step then syncs).
    """
    _check_config(config)
    if len(dataset) < 2:
        raise ValueError(f"dataset has {len(dataset)} items: expected at least 2 (pairs are formed inside a batch)")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint= (the file to resume from)")
    dataset = training_dataset(dataset, config)
    device = resolve_device(config.device)
    distributed.init_process_group(device)
    rank, world_size = distributed.world()
    batch_size = min(config.batch_size, len(dataset))
    if batch_size % world_size:
        raise ValueError(f"batch_size={batch_size} is not divisible by the world size {world_size}")
    steps_per_epoch = max(1, len(dataset) // batch_size)

    # channels_last for conv backbones on CUDA: the layout cuDNN's tensor-core convolutions
    # want. On the CPU only when asked (config.channels_last, the fashion-mnist preset does):
    # oneDNN's kernels are faster there too (the fashion-mnist CNN's step: 43 -> 27 ms on 2
    # cores, benchmarks/README.md), but it changes the last bits of a run, and the numbers the
    # README, results/ and the lessons quote reproduce bit for bit only in the layout they
    # were made in.
    wanted = device.type == "cuda" if config.channels_last is None else config.channels_last
    channels_last = wanted and is_convolutional(model)
    model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    optimizer = make_optimizer(model, config)
    low = autocast_dtype(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=low == torch.float16)  # bf16 needs no loss scaling
    start, history, running = 0, [], {}
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint_state(checkpoint)
        check_resumable(state["config"], config, saved_meta=state.get("meta") or {}, meta=meta or {},
                        step=state["step"], path=checkpoint)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:  # shapes that the checks above could not see (e.g. no fingerprint)
            raise CheckpointError(f"resume: the weights in {str(checkpoint)!r} do not fit this model "
                                  f"({' '.join(str(e).split())[:300]})") from e
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state.get("scaler", {}) or scaler.state_dict())
        start, history = state["step"], list(state["history"])
        running = state.get("running") or {}
    if config.compile:  # in place: the state dict keeps its keys
        model.backbone.compile(mode="default" if config.compile is True else config.compile)
    if world_size > 1:
        # SyncBatchNorm only runs on GPUs; on CPU (gloo) each rank keeps per-shard BN statistics
        # and DDP broadcasts rank 0's buffers.
        if device.type == "cuda" and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        net = model
    objective = Objective(config, train_size=len(dataset))  # HashNet's loss, or a deep baseline's (methods.py)
    bar = _progress_bar(config.iters, start, progress and rank == 0)
    # The loss of the record in progress is summed on the device (float64, as the Python
    # float it replaces) and read at logged steps only: no host sync per step.
    loss_sum = torch.tensor(running.get("loss_sum", 0.0), dtype=torch.float64, device=device)
    loss_count = running.get("loss_count", 0)
    t0 = time.perf_counter() - running.get("seconds", 0.0)  # the clock continues across a resume
    every = config.checkpoint_interval
    last_save = time.perf_counter()

    def step_seed(step):  # augmentation and dropout of ``step``: a function of (seed, step, rank)
        return seed_for(config.seed + 7919, step * world_size + rank)

    def seed_step(step):
        torch.manual_seed(step_seed(step))

    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        net.train()
        seed_step(start)  # before the first batch is drawn (and augmented)
        batches = training_batches(dataset, start, config, batch_size, device, on_device=on_device,
                                   step_seed=step_seed) if start < config.iters else ()
        for step, x, y in batches:
            if channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            beta = beta_at(step, config, steps_per_epoch)
            lr = lr_at(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_mult"]
            with torch.autocast(device_type=device.type, dtype=low or torch.bfloat16, enabled=low is not None):
                out = objective.outputs(net, x, beta)  # (B_local, K): tanh(beta z), or z for some baselines
            out_all = distributed.gather_with_local_grad(out.float())  # (B, K)
            y_all = distributed.gather_with_local_grad(y)
            loss, h_all = objective.loss(out_all, y_all)  # h_all: what the method pushes toward +-1
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss * world_size).backward()
            scaler.step(optimizer)
            scaler.update()

            loss_sum += loss.detach()
            loss_count += 1
            done = step + 1 >= config.iters
            logged = (step + 1) % config.log_every == 0 or done
            if callback is not None or logged:  # reads the GPU: only where someone looks
                logs = {"step": step + 1, "loss": loss.item(), "beta": beta, "lr": lr,
                        "quantization_error": quantization_error(h_all)}
                if not np.isfinite(logs["loss"]):
                    raise TrainingDiverged(f"loss became {logs['loss']} at step {step} (lr={lr}); lower lr")
                if callback is not None:
                    callback(step + 1, logs)
            if logged:
                mean = loss_sum.item() / loss_count
                if not np.isfinite(mean):
                    raise TrainingDiverged(f"loss became {mean} between steps {step + 1 - loss_count} and {step} "
                                           f"(lr={lr}); lower lr")
                history.append({**logs, "loss": mean, "seconds": time.perf_counter() - t0})
                loss_sum.zero_()
                loss_count = 0
                if bar is not None:
                    bar.set_postfix(loss=f"{history[-1]['loss']:.4f}", beta=f"{beta:.2f}")
            if bar is not None:
                bar.update(1)
            # By wall time too, so that a slow run never loses more than a few minutes; checked at
            # logged steps only, where every rank of a DDP run takes the same decision.
            late = checkpoint is not None and (step + 1) % config.log_every == 0 and _agree(
                time.perf_counter() - last_save >= config.checkpoint_seconds, device, world_size)
            if checkpoint is not None and ((step + 1) % every == 0 or done or late):
                last_save = time.perf_counter()
                if rank == 0:
                    running = {"loss_sum": loss_sum.item(), "loss_count": loss_count,
                               "seconds": time.perf_counter() - t0}
                    save_checkpoint(checkpoint, model, config, optimizer=optimizer, scaler=scaler,
                                    step=step + 1, history=history, meta=meta, running=running)
                distributed.barrier()
            if done:
                break
            seed_step(step + 1)  # the next batch is drawn (and augmented) after this
    if bar is not None:
        bar.close()
    if config.compile:
        model.backbone._compiled_call_impl = None  # back to eager: encode() sees other batch shapes
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return history


def _agree(flag: bool, device: torch.device, world_size: int) -> bool:
    """True on every rank if it is True on any (the ranks' clocks differ)."""
    if world_size == 1:
        return flag
    t = torch.tensor([int(flag)], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


def _check_config(config) -> None:
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config={config!r} is invalid: expected a TrainConfig (e.g. TrainConfig(bits=32) or "
                        f"preset_for(data, bits=32)[0])")


def _progress_bar(total: int, start: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)


@torch.no_grad()
def encode(model: HashNet, dataset: Dataset, *, batch_size: int = 512, device: str | torch.device = "auto",
           continuous: bool = False, beta: float = 1.0, progress: bool = False,
           num_workers: int | None = None) -> np.ndarray:
    """Codes for every item of ``dataset``, in order.

    Image lists on a GPU are decoded there, their files read by ``num_workers`` processes
    (None: up to 8; 0 reads them in this process); everything else is read in this process
    unless ``num_workers`` says otherwise (``batches.inference_batches``).

    Binary (default): sign(z) as an int8 (N, K) array of +-1. ``continuous=True``: the
    float32 outputs tanh(beta z) (for the HashNet-nobin ablation).

    ``dataset`` is a data set of (x, y) items (``data.query``, ``data.database``); a tensor,
    array or list of inputs is refused with a TypeError saying how to wrap it. A model whose
    weights hold NaN or inf (a diverged run) is refused: its codes would all be equal.
    """
    _check_dataset(dataset)
    bad = non_finite_weights(model.state_dict())
    if bad:
        raise ValueError(f"model holds NaN or infinite weights ({', '.join(bad[:3])}): every item would get "
                         f"the same code; its training diverged (lower lr) or it was loaded from a damaged file")
    device = resolve_device(device)
    model = model.to(device).eval()
    expected = getattr(model, "input_shape", None)  # set by fit() and load_model()
    batches = inference_batches(dataset, batch_size, device, num_workers=num_workers)  # image lists: decoded on a GPU
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="encode", unit="batch", dynamic_ncols=True,
                       total=-(-len(dataset) // batch_size))
    out = []
    for x in batches:
        if not out and expected is not None and tuple(x.shape[1:]) != tuple(expected):
            raise ValueError(f"dataset items have shape {tuple(x.shape[1:])} but the model was built for "
                             f"inputs of shape {tuple(expected)}: encode the kind of data it was trained on")
        z = model.project(x).float()
        out.append((torch.tanh(beta * z) if continuous else binarize(z)).cpu())
    if not out:
        return np.zeros((0, model.bits), np.float32 if continuous else np.int8)
    return torch.cat(out).numpy()


def _check_dataset(dataset) -> None:
    if isinstance(dataset, (torch.Tensor, np.ndarray, list, tuple)):
        raise TypeError(f"dataset={type(dataset).__name__} is invalid: expected a data set of (x, y) items, "
                        f"such as data.query or data.database of hashnet_lite.load_data(spec); for inputs "
                        f"x alone, wrap them: torch.utils.data.TensorDataset(x, torch.zeros(len(x)))")
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(f"dataset={type(dataset).__name__} is invalid: expected a data set of (x, y) items, "
                        f"such as data.query or data.database of hashnet_lite.load_data(spec)")


def fit(data, config: TrainConfig, *, progress: bool = True, callback: StepCallback | None = None,
        checkpoint: str | Path | None = None, resume: bool = False) -> tuple[HashNet, list[dict]]:
    """Build the model for ``data`` (a ``RetrievalData``) with seed ``config.seed`` and train it.

    With ``checkpoint``, its meta records the data spec, input shape, number of classes,
    the split seed and the data's fingerprint (``data.container.data_fingerprint``), which a
    resume compares."""
    _check_config(config)
    for name in ("train", "spec", "input_shape"):
        if not hasattr(data, name):
            raise TypeError(f"data={type(data).__name__} has no {name!r}: expected a loaded data set "
                            f"(hashnet_lite.load_data(spec))")
    model = build_model(config, data.input_shape)  # seeded with config.seed
    model.input_shape = tuple(data.input_shape)  # encode() checks items against it
    meta = {"data": data.spec, "input_shape": list(data.input_shape), "num_classes": data.num_classes}
    if checkpoint is not None:
        from .data.container import data_fingerprint

        meta.update(split_seed=getattr(data, "split_seed", None), data_fingerprint=data_fingerprint(data))
    history = train(model, data.train, config, progress=progress, callback=callback,
                    checkpoint=checkpoint, resume=resume, meta=meta)
    return model, history
