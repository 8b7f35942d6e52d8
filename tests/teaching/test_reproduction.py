"""hashnet_lite.teaching.reproduction (notebook 06): the paper's tables (read from
presets.PROTOCOLS) and the reproduction commands (they must parse with the real CLI), and
reading back what ``experiments.reproduce`` writes."""
from __future__ import annotations

import json

import pytest

from hashnet_lite.cli import build_parser
from hashnet_lite.config import TrainConfig
from hashnet_lite.data.synthetic import gaussian_clusters
from hashnet_lite.experiments import reproduce
from hashnet_lite.presets import PROTOCOLS
from hashnet_lite.teaching import reproduction as paper


def test_published_markdown_holds_every_published_number():
    md = paper.published_markdown()
    published = {key: p.published for key, p in PROTOCOLS.items() if p.published}
    assert set(published) <= set(paper.PAPER_SETS)
    for row in published.values():
        for value in row.values():
            assert f"{value:.4f}" in md
    assert md.count("\n") == 2 + len(paper.PAPER_SETS)
    assert "| ImageNet-100 (mAP@1000) | 0.5059 | 0.6306 | 0.6633 | 0.6835 | ~0.64 |" in md


def test_protocols_markdown_rows():
    md = paper.protocols_markdown()
    assert "| ImageNet-100 | 100 classes, single label | 13,000 (130/class) | 5,000 | 128,503 | 1000 |" in md
    assert "| 54,000 | all |" in md


def test_commands_parse_with_the_cli():
    cmd = paper.reproduce_command("cifar10:/data/cifar10", "results/cifar10", (16, 32), "--seed", "3")
    args = build_parser().parse_args(cmd.split()[3:])
    assert (args.command, args.data, args.bits, args.out, args.seed) == (
        "reproduce", "cifar10:/data/cifar10", [16, 32], "results/cifar10", 3)
    table = paper.full_run_commands("/mnt/d")
    commands = [line.split("`")[1] for line in table.splitlines()[2:]]
    assert len(commands) == len(paper.PAPER_SETS)
    for key, command in zip(paper.PAPER_SETS, commands):
        args = build_parser().parse_args(command.split()[3:])
        assert args.data == f"{key}:/mnt/d/{key}" and args.bits == [16, 32, 48, 64]
    with pytest.raises(ValueError, match="bits"):
        paper.reproduce_command("digits", "out", ())


def test_load_results_reads_what_reproduce_wrote(tmp_path):
    assert paper.load_results(tmp_path) is None
    data = gaussian_clusters(4, per_class=12, n_query=2, n_train=5, dim=6)
    rows = reproduce(data, [8, 16], tmp_path, TrainConfig(device="cpu"), topk=None, methods=("ITQ", "LSH"),
                     progress=False)
    loaded = paper.load_results(tmp_path)
    assert loaded["rows"] == rows
    assert loaded["markdown"].startswith("# Retrieval mAP")
    assert [p.name for p in loaded["figures"]] == ["map_vs_bits.png", "precision_recall.png"]
    table = paper.map_table(rows)
    assert list(table) == ["ITQ", "LSH"] and set(table["ITQ"]) == {8, 16}
    assert table["LSH"][16] == next(r["map"] for r in rows if r["method"] == "LSH" and r["bits"] == 16)


@pytest.mark.parametrize("rows, match", [({"a": 1}, "JSON list"), ([{"method": "ITQ", "bits": 8}], "lacks \\['map'\\]"),
                                         ([{"method": "PQ", "bits": 8, "map": 0.1}], "method 'PQ'")])
def test_load_results_rejects_foreign_files(tmp_path, rows, match):
    (tmp_path / "results.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=match):
        paper.load_results(tmp_path)


def test_run_seconds_leaves_out_the_overlapping_hashnet_c_rows():
    rows = [dict(method="HashNet", bits=8, map=0.5, seconds=10.0), dict(method="HashNet-nobin", bits=8, map=0.6, seconds=11.0),
            dict(method="LSH", bits=8, map=0.2, seconds=0.5)]
    assert paper.run_seconds(rows) == 10.5


def test_table_markdown_by_metric():
    rows = [dict(method="LSH", bits=16, map=0.3, precision_radius2=0.5), dict(method="HashNet", bits=16, map=0.9,
            precision_radius2=0.8), dict(method="HashNet-nobin", bits=16, map=0.91), dict(method="HashNet", bits=32, map=0.95,
            precision_radius2=0.7)]
    md = paper.table_markdown(rows, "precision_radius2", "precision within radius 2")
    assert md.splitlines() == ["| precision within radius 2 | 16 bits | 32 bits |", "| --- | --- | --- |",
                               "| HashNet | 0.8000 | 0.7000 |", "| LSH | 0.5000 | - |"]
    assert "| HashNet-nobin | 0.9100 | - |" in paper.table_markdown(rows)
    with pytest.raises(ValueError, match="no row has 'recall'"):
        paper.table_markdown(rows, "recall")
