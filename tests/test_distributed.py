"""DistributedDataParallel on CPU: two gloo processes (torch.multiprocessing.spawn, the
environment torchrun would set) train the same model as one process on the whole batch,
and only rank 0 writes the checkpoint."""
from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from helpers import (  # tests/ is on sys.path, also in the spawned processes
    SyntheticHashData,
    free_port,
)

from hashnet_lite import distributed
from hashnet_lite.checkpoint import load_checkpoint_state
from hashnet_lite.config import TrainConfig
from hashnet_lite.model import build_model
from hashnet_lite.train import train

WORLD = 2
# dropout=0: dropout masks are drawn per rank for the rank's shard, so with dropout > 0 two
# processes cannot reproduce one process's masks (the results would differ, not be wrong).
MLP = TrainConfig(bits=8, backbone="mlp", hidden=32, batch_size=16, iters=12, lr=0.01, dropout=0.0,
                  log_every=4, checkpoint_every=5, step_size=4, gamma=0.2, device="cpu", seed=3)
CNN = TrainConfig(bits=8, backbone="cnn", hidden=16, batch_size=8, iters=3, lr=0.01, dropout=0.0,
                  log_every=1, checkpoint_every=100, device="cpu", seed=1)


def _data(images: bool):
    # images: 1 x 8 x 8, the smallest size the cnn is made for
    return SyntheticHashData(n=64, d=64 if images else 16, c=4, seed=2, multi_label=True, images=images)


def _fresh_model(config, shape):
    return build_model(config, shape)  # its weights drawn from config.seed


def _worker(rank: int, out: str, port: int) -> None:
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    out = Path(out)
    import hashnet_lite.checkpoint as checkpoint_module

    original = checkpoint_module.save_checkpoint

    def recording_save(path, *args, **kwargs):
        (out / f"saved_by_rank{rank}_step{kwargs['step']}").touch()
        original(path, *args, **kwargs)

    checkpoint_module.save_checkpoint = recording_save
    try:
        data = _data(images=False)
        model = _fresh_model(MLP, data.input_shape)
        history = train(model, data, MLP, progress=False, checkpoint=out / "ckpt" / "mlp.pt")
        torch.save({"state": model.state_dict(), "history": history,
                    "world": distributed.world(), "main": distributed.is_main_process()},
                   out / f"mlp_rank{rank}.pt")

        # gather_with_local_grad: rank order, and gradient only into this rank's slice
        local = torch.full((2, 3), float(rank), requires_grad=True)
        gathered = distributed.gather_with_local_grad(local)
        (gathered * torch.arange(1.0, 5.0).view(4, 1)).sum().backward()
        torch.save({"gathered": gathered.detach(), "grad": local.grad}, out / f"gather_rank{rank}.pt")

        # a batch that does not split over the ranks is refused before any work
        try:
            train(_fresh_model(MLP, data.input_shape), data, dataclasses.replace(MLP, batch_size=7), progress=False)
            (out / f"batch7_rank{rank}.txt").write_text("no error")
        except ValueError as err:
            (out / f"batch7_rank{rank}.txt").write_text(str(err))

        # the cnn (BatchNorm) also trains under gloo on CPU
        images = _data(images=True)
        cnn = _fresh_model(CNN, images.input_shape)
        cnn_history = train(cnn, images, CNN, progress=False)
        torch.save({"state": cnn.state_dict(), "history": cnn_history}, out / f"cnn_rank{rank}.pt")
        print(f"rank {rank}: {time.perf_counter() - t0:.1f} s after start", file=sys.stderr)
        distributed.shutdown()
    finally:
        checkpoint_module.save_checkpoint = original


def _no_seconds(history):
    return [{k: v for k, v in rec.items() if k != "seconds"} for rec in history]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    tests_dir = str(Path(__file__).parent)
    assert tests_dir in sys.path  # the spawned processes import this module and helpers from here
    mp.spawn(_worker, args=(str(out), free_port()), nprocs=WORLD, join=True)
    return out


@pytest.mark.slow  # two spawned processes train (the ddp_run fixture)
def test_ranks_agree_and_match_one_process(ddp_run):
    runs = [torch.load(ddp_run / f"mlp_rank{r}.pt", weights_only=True) for r in range(WORLD)]
    assert [tuple(run["world"]) for run in runs] == [(0, 2), (1, 2)]
    assert [run["main"] for run in runs] == [True, False]
    for key, value in runs[0]["state"].items():  # DDP: every rank holds the same parameters
        assert torch.equal(value, runs[1]["state"][key]), key

    data = _data(images=False)
    single = _fresh_model(MLP, data.input_shape)
    single_history = train(single, data, MLP, progress=False)
    initial = _fresh_model(MLP, data.input_shape).state_dict()
    for key, value in single.state_dict().items():
        assert not torch.equal(value, initial[key]), f"{key} did not train"
        assert torch.allclose(runs[0]["state"][key], value, rtol=1e-4, atol=1e-5), key
    for ddp_rec, rec in zip(runs[0]["history"], single_history, strict=True):
        assert ddp_rec["step"] == rec["step"] and ddp_rec["beta"] == rec["beta"] and ddp_rec["lr"] == rec["lr"]
        assert ddp_rec["loss"] == pytest.approx(rec["loss"], rel=1e-5)
        assert ddp_rec["quantization_error"] == pytest.approx(rec["quantization_error"], rel=1e-4)
    assert _no_seconds(runs[1]["history"]) == _no_seconds(runs[0]["history"])


@pytest.mark.slow  # two spawned processes train (the ddp_run fixture)
def test_only_rank_0_writes_the_checkpoint(ddp_run):
    markers = sorted(p.name for p in ddp_run.iterdir() if p.name.startswith("saved_by"))
    assert markers == ["saved_by_rank0_step10", "saved_by_rank0_step12", "saved_by_rank0_step5"]
    assert sorted(p.name for p in (ddp_run / "ckpt").iterdir()) == ["mlp.pt"]
    state = load_checkpoint_state(ddp_run / "ckpt" / "mlp.pt")
    assert state["step"] == 12
    final = torch.load(ddp_run / "mlp_rank0.pt", weights_only=True)["state"]
    for key, value in final.items():
        assert torch.equal(state["model"][key], value), key


@pytest.mark.slow  # two spawned processes train (the ddp_run fixture)
def test_gather_with_local_grad(ddp_run):
    for rank in range(WORLD):
        got = torch.load(ddp_run / f"gather_rank{rank}.pt", weights_only=True)
        assert torch.equal(got["gathered"], torch.tensor([[0.0] * 3] * 2 + [[1.0] * 3] * 2))
        # d/d local of sum_i i * gathered[i]: rows 1,2 on rank 0 and rows 3,4 on rank 1
        expected = torch.arange(1.0, 5.0).view(4, 1).expand(4, 3)[2 * rank:2 * rank + 2]
        assert torch.equal(got["grad"], expected)


@pytest.mark.slow  # two spawned processes train (the ddp_run fixture)
def test_cnn_with_batchnorm_trains_under_gloo(ddp_run):
    runs = [torch.load(ddp_run / f"cnn_rank{r}.pt", weights_only=True) for r in range(WORLD)]
    for key, value in runs[0]["state"].items():
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue  # per-rank BatchNorm statistics on CPU (no SyncBatchNorm without a GPU)
        assert torch.equal(value, runs[1]["state"][key]), key
    assert all(torch.isfinite(torch.tensor(rec["loss"])) for rec in runs[0]["history"])
    assert len(runs[0]["history"]) == CNN.iters


def test_single_process_helpers(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert not distributed.launched_by_torchrun()
    assert distributed.world() == (0, 1) and distributed.is_main_process()
    x = torch.randn(3, 2, requires_grad=True)
    assert distributed.gather_with_local_grad(x) is x
    distributed.init_process_group(torch.device("cpu"))  # no-op outside torchrun
    assert not torch.distributed.is_initialized()
    distributed.barrier()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert not distributed.launched_by_torchrun()  # RANK missing
    monkeypatch.setenv("RANK", "0")
    assert distributed.launched_by_torchrun()


@pytest.mark.slow  # two spawned processes train (the ddp_run fixture)
def test_batch_must_split_evenly_over_ranks(ddp_run):
    for rank in range(WORLD):
        message = (ddp_run / f"batch7_rank{rank}.txt").read_text()
        assert message == "batch_size=7 is not divisible by the world size 2"


def test_the_group_is_left_at_exit_and_by_shutdown(monkeypatch):
    # A process that exits inside a gloo group aborts in C++ ("terminate called without an
    # active exception"): init_process_group registers the destroy with atexit.
    registered, joined = [], []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(distributed.atexit, "register", registered.append)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend: joined.append(backend))
    distributed.init_process_group(torch.device("cpu"))
    assert joined == ["gloo"] and registered == [distributed._destroy]

    monkeypatch.undo()
    store = torch.distributed.HashStore()
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        assert distributed.world() == (0, 1)
        distributed.shutdown()
        assert not torch.distributed.is_initialized()
        distributed.shutdown()  # no-op once left
        distributed._destroy()
    finally:
        if torch.distributed.is_initialized():  # never leave a group open in the test process
            torch.distributed.destroy_process_group()
