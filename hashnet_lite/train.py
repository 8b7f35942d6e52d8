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

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from .batches import inference_batches, seed_for, training_batches
from .checkpoint import load_checkpoint_state, load_model, save_checkpoint  # noqa: F401 (re-exported)
from .checkpoint import Checkpointer, non_finite_weights, resume_training
from .config import TrainConfig
from .continuation import beta_at
from .data.augment import for_training
from .errors import TrainingDiverged
from .methods import Objective
from .model import HashNet, binarize, build_model
from .placement import autocast_dtype, is_convolutional, place, resolve_device  # noqa: F401 (re-exported)

StepCallback = Callable[[int, dict], None]


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


def set_lr(optimizer: torch.optim.Optimizer, step: int, config: TrainConfig) -> float:
    """Sets every group's rate for ``step`` (the hash layer's at its multiple); returns the backbone's."""
    lr = lr_at(step, config)
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_mult"]
    return lr


def quantization_error(h: torch.Tensor) -> float:
    """mean |h - sign(h)|: how far the continuous codes are from binary."""
    h = h.detach().float()
    return (h - torch.where(h >= 0, 1.0, -1.0)).abs().mean().item()


# Added to the run's seed for the per-step streams (dropout, crops, erasing), so that they
# never coincide with the batch order's streams, which come from seed_for(seed, epoch): a
# fixed prime, part of every recorded run's numbers.
STEP_STREAMS = 7919


def train(model: HashNet, dataset: Dataset, config: TrainConfig, *, progress: bool = True,
          callback: StepCallback | None = None, checkpoint: str | Path | None = None,
          resume: bool = False, meta: dict | None = None, on_device: bool | None = None) -> list[dict]:
    """Train ``model`` on ``dataset`` (items (x, y) with y multi-hot) for ``config.iters`` steps.

    Returns the history: one dict per logged step with ``step``, ``loss`` (mean since the
    last record), ``beta`` (None for the deep baselines, which have no continuation), ``lr``,
    ``quantization_error`` (mean |h - sign(h)|) and ``seconds``. ``callback(step, logs)`` is
    called after every step. With ``checkpoint`` set, state is saved there atomically every
    ``config.checkpoint_interval`` steps, at least every ``checkpoint_seconds`` of training
    and at the end (``checkpoint.Checkpointer``); ``resume=True`` continues from it when it
    exists, if it belongs to this run (``checkpoint.check_resumable``: config, data, steps).
    ``meta`` (plain data: the data spec, input shape, data fingerprint) is stored in the
    checkpoint beside the config.

    Batches come from ``batches.training_batches``: held on the device when the data are
    arrays that fit, image lists decoded on the device on a GPU (``on_device=None`` decides;
    True/False force a path), else through a DataLoader. Nothing is read back from a GPU at a
    step unless it is logged, checkpointed, or ``callback`` is given (a callback gets each
    step's loss, so each step then syncs).
    """
    _check_arguments(dataset, config, checkpoint, resume)
    dataset = for_training(dataset, config)  # the augmentation config.augment and config.erase ask for
    run = place(model, config)  # device, process group, memory layout, precision (placement.py)
    batch_size = min(config.batch_size, len(dataset))
    if batch_size % run.world_size:
        raise ValueError(f"batch_size={batch_size} is not divisible by the world size {run.world_size}")
    optimizer = make_optimizer(model, config)
    state = {"step": 0, "history": [], "running": {}}
    if resume and Path(checkpoint).is_file():
        state = resume_training(checkpoint, model, optimizer, run.scaler, config, meta)
    net = run.wrap(model)  # compiled, and wrapped for DDP under torchrun
    objective = Objective(config, train_size=len(dataset))  # HashNet's loss, or a deep baseline's (methods.py)
    steps_per_epoch = max(1, len(dataset) // batch_size)
    start, history = state["step"], state["history"]
    record = _Record(run.device, state["running"])
    saver = Checkpointer(checkpoint, config, rank=run.rank, agree=run.agree)
    bar = _progress_bar(config.iters, start, progress and run.rank == 0)

    def seed_of(step):  # the step's dropout and augmentation: a function of (seed, step, rank)
        return seed_for(config.seed + STEP_STREAMS, step * run.world_size + run.rank)

    # The caller's RNG is kept, and a caller's autocast does not reach the loop (run.autocast
    # sets the forward pass's arithmetic; the loss is computed in fp32).
    with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []), \
            torch.autocast(run.device.type, enabled=False):
        net.train()
        torch.manual_seed(seed_of(start))  # before the first batch is drawn (and augmented)
        batches = training_batches(dataset, start, config, batch_size, run.device, on_device=on_device,
                                   step_seed=seed_of) if start < config.iters else ()
        for step, x, y in batches:
            # --- one HashNet step (paper Sec. 3) ---
            beta = beta_at(step, config, steps_per_epoch) if objective.deep is None else None  # beta_t (Sec. 3.3)
            lr = set_lr(optimizer, step, config)
            with run.autocast():
                out = objective.outputs(net, run.inputs(x), beta)  # h = tanh(beta z), or z for some baselines
            loss, h = objective.loss(run.gather(out.float()), run.gather(y))  # HashNet's Eq. 4-5 (or a baseline's)
            run.backward_and_step(loss, optimizer)

            # --- bookkeeping: logs, history, checkpoints ---
            record.add(loss)
            done = step + 1 >= config.iters
            logged = (step + 1) % config.log_every == 0 or done
            if callback is not None or logged:  # reads the GPU: only where someone looks
                logs = {"step": step + 1, "loss": _finite(loss.item(), step, lr), "beta": beta, "lr": lr,
                        "quantization_error": quantization_error(h)}
                if callback is not None:
                    callback(step + 1, logs)
                if logged:
                    history.append({**logs, "loss": record.close(step, lr), "seconds": record.seconds()})
                    if bar is not None:
                        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}", **({} if beta is None else
                                                                            {"beta": f"{beta:.2f}"}))
            if bar is not None:
                bar.update(1)
            if saver.due(step + 1, done):
                saver.save(step + 1, model, optimizer, run.scaler, history, meta, record.running)
            if done:
                break
            torch.manual_seed(seed_of(step + 1))  # the next batch is drawn (and augmented) after this
    if bar is not None:
        bar.close()
    run.release(model)  # eager, contiguous, in eval mode
    return history


class _Record:
    """The loss of the history record in progress, summed on the device (float64, as the
    Python float it replaces) and read at logged steps only: no host sync per step. The
    clock continues across a resume."""

    def __init__(self, device: torch.device, running: dict):
        self.sum = torch.tensor(running.get("loss_sum", 0.0), dtype=torch.float64, device=device)
        self.count = running.get("loss_count", 0)
        self.t0 = time.perf_counter() - running.get("seconds", 0.0)

    def add(self, loss: torch.Tensor) -> None:
        self.sum += loss.detach()
        self.count += 1

    def close(self, step: int, lr: float) -> float:
        """The mean loss since the last record (then restarted); the seconds are stamped by the caller."""
        mean = self.sum.item() / self.count
        if not np.isfinite(mean):
            raise TrainingDiverged(f"loss became {mean} between steps {step + 1 - self.count} and {step} "
                                   f"(lr={lr}); lower lr")
        self.sum.zero_()
        self.count = 0
        return mean

    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def running(self) -> dict:
        return {"loss_sum": self.sum.item(), "loss_count": self.count, "seconds": self.seconds()}


def _finite(loss: float, step: int, lr: float) -> float:
    if not np.isfinite(loss):
        raise TrainingDiverged(f"loss became {loss} at step {step} (lr={lr}); lower lr")
    return loss


def _check_arguments(dataset, config, checkpoint, resume) -> None:
    _check_config(config)
    if len(dataset) < 2:
        raise ValueError(f"dataset has {len(dataset)} items: expected at least 2 (pairs are formed inside a batch)")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint= (the file to resume from)")


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
