"""What ITQ and LSH are fitted on at the paper's scale: flattened pixels on the small data
sets, backbone features computed a batch at a time on list files (presets.SHALLOW_INPUTS),
with the source recorded in results.json and results.md, and reproduce on a few thousand
JPEGs in a bounded amount of memory."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hashnet_lite import experiments, load_data, preset_config, report, shallow
from hashnet_lite.checkpoint import load_model
from hashnet_lite.conventions import evaluate
from hashnet_lite.data.container import ArrayDataset
from hashnet_lite.errors import CheckpointError
from hashnet_lite.presets import PROTOCOLS, SHALLOW_INPUTS, shallow_inputs

REPO = Path(__file__).resolve().parents[1]
PIXEL_BYTES = 3 * 224 * 224 * 4  # one list-file image as the pixel route holds it (float32)


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch, tmp_path):
    """torch.hub's folder is an empty one: no AlexNet weights file, whatever this machine holds."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-hub"))


def test_the_preset_table_says_features_for_list_files_and_pixels_elsewhere():
    assert set(PROTOCOLS) <= set(SHALLOW_INPUTS)  # every data set states its choice
    for spec in ("list:/data/x", "imagenet100", "nuswide:/d", "COCO"):
        assert shallow_inputs(spec) == "features"
    for spec in ("digits", "fashion-mnist:/d", "fashion-mosaic", "cifar10", "npz:a.npz", "gaussian_clusters:4"):
        assert shallow_inputs(spec) == "pixels"


def _digits_config(**overrides):
    return preset_config("digits", **{"bits": 8, "iters": 20, "device": "cpu", **overrides})[0]


def test_chunked_codes_equal_the_whole_array_codes():
    """Flatten as the 'backbone': the features route, 7 items at a time, gives exactly the
    codes of the pixel route, which holds each part whole."""
    data = load_data("digits")
    whole = shallow.shallow_codes(["ITQ", "LSH"], data, 16, seed=3)
    chunked = shallow.shallow_codes(["ITQ", "LSH"], data, 16, seed=3, net=nn.Flatten(), batch_size=7)
    for m in ("ITQ", "LSH"):
        for a, b in zip(whole[m], chunked[m]):
            assert a.dtype == b.dtype == np.int8 and np.array_equal(a, b)
        assert np.array_equal(whole[m][0], shallow.baseline_codes(m, data, 16, seed=3)[0])
    assert chunked["ITQ"][1].shape == (len(data.database), 16)


def test_backbone_features_are_test_time_features_in_eval_mode_without_gradients():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 6)).astype(np.float32), np.eye(2, dtype=np.uint8)[rng.integers(0, 2, 10)]
    augmented = ArrayDataset(x, y, augment=lambda b: b + 100.0)  # a training set's augmentation
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.Dropout(0.9))  # dropout: only eval mode is deterministic
    chunks = []
    for f in shallow.backbone_features(net, augmented, batch_size=4):
        assert torch.is_grad_enabled()  # no_grad does not leak into the caller between batches
        chunks.append(f)
    assert [len(c) for c in chunks] == [4, 4, 2] and not net.training
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    assert np.allclose(np.concatenate(chunks), expected, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size=0"):
        next(shallow.backbone_features(net, augmented, batch_size=0))
    with pytest.raises(ValueError, match=r"methods=\['PCAH'\]"):
        shallow.shallow_codes(["PCAH"], load_data("digits"), 8, 0)


def test_features_come_from_the_trained_hashnet_in_memory_or_from_its_checkpoint(tmp_path):
    data, config = load_data("digits"), _digits_config()
    rows = experiments.reproduce(data, [8], tmp_path, config, topk=None, methods=["ITQ", "HashNet", "LSH"],
                                 progress=False, shallow_inputs="features")  # ITQ first: made after HashNet
    rows = {r["method"]: r for r in rows}
    assert rows["ITQ"]["inputs"] == rows["LSH"]["inputs"] == "hashnet-backbone"
    assert "inputs" not in rows["HashNet"]
    md = (tmp_path / "results.md").read_text()
    assert "ITQ and LSH are fitted on the features of this run's trained HashNet backbone" in md
    # A later run that makes only the shallow rows takes the backbone from HashNet's checkpoint.
    results = tmp_path / "results.json"
    results.write_text(json.dumps([r for r in json.loads(results.read_text()) if r["method"] == "HashNet"]))
    later = {r["method"]: r for r in experiments.reproduce(data, [8], tmp_path, config, topk=None,
                                                           methods=["ITQ", "LSH"], progress=False,
                                                           shallow_inputs="features")}
    for m in ("ITQ", "LSH"):
        assert later[m]["inputs"] == "hashnet-backbone" and later[m]["map"] == rows[m]["map"]
    backbone = load_model(tmp_path / "checkpoints" / "HashNet-8.pt")[0].backbone
    q, d = shallow.baseline_codes("ITQ", data, 8, 0, net=backbone)
    assert evaluate(q, d, data, None)["map"] == rows["ITQ"]["map"]


def test_pixels_are_recorded_and_the_pretrained_fc7_is_preferred(tmp_path, monkeypatch):
    data, config = load_data("digits"), _digits_config()
    rows = experiments.reproduce(data, [8], tmp_path / "p", config, topk=None, methods=["LSH"], progress=False)
    assert rows[0]["inputs"] == "pixels"
    assert "ITQ and LSH are fitted on the training items' flattened inputs (pixels)" in \
        (tmp_path / "p" / "results.md").read_text()
    # With the weights file on disk, fc7 is used and no HashNet is needed (a stand-in network
    # here: the real file is 233 MB).
    monkeypatch.setattr(experiments, "alexnet_weights_present", lambda shape: True)
    monkeypatch.setattr(experiments, "alexnet_fc7", lambda shape: nn.Flatten())
    rows = experiments.reproduce(data, [8], tmp_path / "f", config, topk=None, methods=["ITQ"], progress=False,
                                 shallow_inputs="features")
    assert rows[0]["inputs"] == "alexnet-fc7"
    assert "pretrained AlexNet" in (tmp_path / "f" / "results.md").read_text()
    with pytest.raises(ValueError, match="shallow_inputs='fc7'"):
        experiments.reproduce(data, [8], tmp_path / "x", config, topk=None, methods=["ITQ"], shallow_inputs="fc7")


def test_results_markdown_says_which_inputs_each_code_length_used():
    rows = [dict(method="ITQ", bits=16, map=0.2, inputs="alexnet-fc7"),
            dict(method="LSH", bits=32, map=0.1, inputs="hashnet-backbone"), dict(method="HashNet", bits=16, map=0.5)]
    data = load_data("digits")
    md = report.results_markdown(rows, data, None, "digits", _digits_config())
    assert "fc7 features (after its ReLU) of an ImageNet-pretrained AlexNet, the paper's DeCAF7 inputs at 16 bits" in md
    assert "trained HashNet backbone at the same code length (no pretrained AlexNet weights file was on disk) at " \
           "32 bits" in md
    assert "ITQ and LSH" not in report.results_markdown(rows[2:], data, None, "digits", _digits_config())


def test_alexnet_fc7_is_looked_for_on_disk_and_never_downloaded(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("nothing may be downloaded")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    assert shallow.alexnet_fc7((3, 224, 224)) is None  # the fixture's hub folder is empty
    folder = tmp_path / "torch-hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "alexnet-owt-7be5be79.pth").touch()  # torchvision's file name for AlexNet_Weights.DEFAULT
    assert shallow.alexnet_weights_present((3, 224, 224))
    assert shallow.alexnet_weights_present((1, 28, 28))
    assert not shallow.alexnet_weights_present((64,)) and not shallow.alexnet_weights_present((2, 8, 8))


def test_without_features_reproduce_says_to_include_hashnet_before_any_training(tmp_path, monkeypatch):
    data, config = load_data("digits"), _digits_config()

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the check")

    monkeypatch.setattr(experiments, "fit", no_training)
    with pytest.raises(ValueError, match=r"no HashNet at 8 bits .* include HashNet in --methods"):
        experiments.reproduce(data, [8], tmp_path / "r", config, topk=None, methods=["DHN", "ITQ"],
                              progress=False, shallow_inputs="features")
    assert not (tmp_path / "r" / "results.json").exists()


def test_an_unfinished_hashnet_checkpoint_is_refused(tmp_path):
    data = load_data("digits")
    experiments.reproduce(data, [8], tmp_path, _digits_config(iters=10), topk=None, methods=["HashNet"],
                          progress=False)
    shutil.rmtree(tmp_path / "rows")  # the checkpoint stays without its row (--overwrite would remove both)
    (tmp_path / "results.json").unlink()
    with pytest.raises(CheckpointError, match="holds 10 of 20 steps"):
        experiments.reproduce(data, [8], tmp_path, _digits_config(iters=20), topk=None, methods=["ITQ"],
                              progress=False, shallow_inputs="features")


# ---------------------------------------------------------------- the CLI on list files

def write_jpeg_list(root: Path, n_train: int, n_query: int, n_database: int, classes: int = 4) -> Path:
    """16x16 JPEGs, one colour per class plus noise, and the three list files
    (``<relative path> <0/1 labels>``)."""
    from PIL import Image

    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(classes, 3))
    start = 0
    for name, n in (("train.txt", n_train), ("test.txt", n_query), ("database.txt", n_database)):
        lines = []
        for i in range(start, start + n):
            c = i % classes
            pixels = np.clip(colours[c] + rng.normal(0, 30, size=(16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "img" / f"{i}.jpg", quality=90)
            lines.append(f"img/{i}.jpg " + " ".join("1" if k == c else "0" for k in range(classes)))
        (root / name).write_text("\n".join(lines) + "\n")
        start += n
    return root


def test_the_cli_on_list_files_without_hashnet_says_what_to_do(tmp_path, capsys):
    from hashnet_lite import cli

    root = write_jpeg_list(tmp_path / "jpegs", n_train=8, n_query=4, n_database=8)
    argv = ["reproduce", "--data", f"list:{root}", "--bits", "8", "--methods", "ITQ", "LSH", "--out",
            str(tmp_path / "run"), "--no-progress"]
    assert cli.main(argv) == 2
    assert "include HashNet in --methods" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()


# Runs the command given as its arguments and prints the command's exit status and peak
# resident memory. Measured from this small process, not from pytest: a child's ru_maxrss
# starts at the resident size of the process it was forked from (Python spawns with vfork,
# and the kernel keeps the pre-exec high-water mark), which after the in-process tests above
# is pytest's ~1 GB, not the child's own.
_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
print(child.returncode, usage.ru_maxrss)
"""


def peak_rss(argv: list, env: dict) -> tuple[int, int, str]:
    """(exit status, peak resident memory in bytes, stderr) of the command ``argv``."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *map(str, argv)], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    rc, kib = map(int, done.stdout.split())
    return rc, kib * 1024, done.stderr  # ru_maxrss is in KiB on Linux


@pytest.mark.slow
def test_reproduce_on_thousands_of_jpegs_never_holds_their_pixels(tmp_path):
    """2,000 JPEGs, 1,700 of them in the database: the pixel route would add their float32
    array (976 MiB; ITQ's float64 copy and its centred copy add four times that) to what the
    run's imports take. The features route holds one batch of images and N_train x 512
    features, so the run may take only a small fraction of that above its imports. Measured
    on the busy 2-core machine: ~110 s; peaks of 969 and 985 MiB against 893 MiB for the
    imports alone (torch, torchvision), i.e. 76-92 MiB for the whole run."""
    n_database = 1700
    root = write_jpeg_list(tmp_path / "jpegs", n_train=200, n_query=100, n_database=n_database)
    # No pretrained AlexNet file (TORCH_HOME), one thread (a busy 2-core machine), and a fixed
    # malloc mmap threshold. By default glibc raises that threshold to the largest block freed
    # (here the small CNN's 224x224 activations) and then keeps such blocks in its heap, which
    # added 100-400 MB of run-to-run noise to the peak (also at interpreter exit); fixed, the
    # peak follows the memory in use: 984/984/985 MiB in three runs on 500 database images,
    # 986 on 2,500. It costs time (fresh pages for every batch), not memory.
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch-home"), "OMP_NUM_THREADS": "1",
           "MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONPATH": str(REPO)}
    out = tmp_path / "run"
    t0 = time.perf_counter()
    rc, peak, err = peak_rss([sys.executable, "-m", "hashnet_lite", "reproduce", "--data", f"list:{root}",
                              "--bits", 8, "--methods", "HashNet", "ITQ", "LSH", "--backbone", "cnn",
                              "--iters", 20, "--batch-size", 4, "--device", "cpu", "--no-progress",
                              "--out", out], env)
    seconds = time.perf_counter() - t0
    assert rc == 0, err
    md = (out / "results.md").read_text()
    assert "ITQ and LSH are fitted on the features of this run's trained HashNet backbone" in md
    rows = {r["method"]: r for r in json.loads((out / "results.json").read_text())}
    assert rows["ITQ"]["inputs"] == rows["LSH"]["inputs"] == "hashnet-backbone"
    assert rows["ITQ"]["map"] > 0.5  # four colours: the features separate them
    # What the run's imports alone take (torch, torchvision, matplotlib: ~0.9 GB here).
    imports = ("from hashnet_lite import cli, experiments, plots; from hashnet_lite.data import images; "
               "import torchvision")
    rc, floor, err = peak_rss([sys.executable, "-c", imports], env)
    assert rc == 0, err
    pixels = n_database * PIXEL_BYTES
    print(f"reproduce: {seconds:.0f} s, peak {peak / 2**20:.0f} MiB, imports {floor / 2**20:.0f} MiB; "
          f"the database's pixels {pixels / 2**20:.0f} MiB")
    assert peak - floor < pixels / 4
