"""A study's rows in parallel: --jobs N workers and --shard i/n shares writing into one folder
(hashnet_lite/rows.py), and a study that survives a failing method."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_run_state import ENV, ROOT, cli, kill_mid_run, ok

from hashnet_lite.rows import RowStore, in_shard, parse_shard

ARGS = ["reproduce", "--data", "digits", "--bits", 8, 16, "--methods", "HashNet", "HashNet-nobin", "DSH", "ITQ",
        "--iters", 40, "--no-progress", "--device", "cpu"]


def table(out):
    """{(method, bits): mAP} of results.json; the continuous ranking to 1e-6 (its float sums
    depend on the thread count)."""
    rows = json.loads((out / "results.json").read_text())
    return {(r["method"], r["bits"]): round(r["map"], 6) for r in rows}


def trained_rows(out) -> int:
    return len(list((out / "rows").glob("*.json")))


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "out"
    ok(cli(*ARGS, "--out", out))
    return out


def test_parse_shard_and_the_shares_are_disjoint_and_cover_every_unit():
    assert parse_shard("2/3") == (2, 3) and parse_shard(None) is None
    for bad in ("0/3", "4/3", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)
    shares = [[i for i in range(10) if in_shard(i, (k, 3))] for k in (1, 2, 3)]
    assert sorted(sum(shares, [])) == list(range(10))


def test_a_claimed_row_is_skipped_by_another_claimant(tmp_path):
    store = RowStore(tmp_path)
    with store.claim("HashNet-8") as first:
        with store.claim("HashNet-8") as second:  # flock: a second open file description
            assert first and not second
    with store.claim("HashNet-8") as again:  # released when the holder closes it
        assert again


@pytest.mark.slow
def test_two_shards_then_jobs_2_into_one_folder_train_every_row_once_and_equal_the_serial_table(tmp_path, serial):
    out = tmp_path / "out"
    shards = [subprocess.Popen([sys.executable, "-m", "hashnet_lite", *map(str, ARGS), "--out", str(out),
                                "--shard", f"{i}/2"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    errs = [p.communicate(timeout=600)[1] for p in shards]
    assert [p.returncode for p in shards] == [0, 0], errs
    made = sum(int(e.split("made ")[-1].split()[0]) for e in errs)
    assert made == 8  # 3 units x 2 bits, HashNet's unit writing its nobin row too: every row once
    assert table(out) == table(serial)
    proc = ok(cli(*ARGS, "--out", out, "--jobs", 2))  # a --jobs run into the finished folder makes nothing
    assert "made 0" in proc.stderr and table(out) == table(serial)
    fresh = tmp_path / "jobs"
    proc = ok(cli(*ARGS, "--out", fresh, "--jobs", 2))
    assert table(fresh) == table(serial) and trained_rows(fresh) == 8


@pytest.mark.slow
def test_a_shard_killed_mid_row_then_rerun_gives_the_serial_table(tmp_path, serial):
    out = tmp_path / "out"
    kill_mid_run([*ARGS, "--out", out, "--shard", "1/2"], out / "checkpoints" / "HashNet-8.pt", 0.2)
    ok(cli(*ARGS, "--out", out, "--shard", "2/2"))
    ok(cli(*ARGS, "--out", out, "--shard", "1/2"))  # takes the killed share's lock over, resumes its row
    assert table(out) == table(serial)


@pytest.mark.slow
def test_a_diverging_method_is_a_row_that_says_so_and_the_study_finishes(tmp_path):
    """At lr 3 on the digits DPSH and DSH diverge and the others collapse to one code: every
    row is written, each says what happened, and the exit code is 0 with a warning."""
    out = tmp_path / "out"
    proc = ok(cli("reproduce", "--data", "digits", "--bits", 32, "--methods", "HashNet", "HashNet+C", "DHN",
                  "DPSH", "DSH", "CSQ", "--iters", 60, "--lr", 3, "--no-progress", "--device", "cpu",
                  "--out", out))
    rows = {r["method"]: r for r in json.loads((out / "results.json").read_text())}
    assert set(rows) == {"HashNet", "HashNet+C", "DHN", "DPSH", "DSH", "CSQ"}
    assert rows["DSH"]["map"] is None and rows["DSH"]["status"].startswith("diverged at step ")
    assert rows["HashNet"]["status"] == "collapsed: 1 distinct codes" and rows["HashNet"]["map"] > 0
    assert "diverged" in proc.stderr and "warning" in proc.stderr
    md = (out / "results.md").read_text()
    assert "| DSH | diverged at step" in md and "(collapsed)" in md
    again = ok(cli("reproduce", "--data", "digits", "--bits", 32, "--methods", "HashNet", "HashNet+C", "DHN",
                   "DPSH", "DSH", "CSQ", "--iters", 60, "--lr", 3, "--no-progress", "--device", "cpu",
                   "--out", out))
    assert "kept 6 rows, made 0" in again.stderr  # a failed row is a result, not a retry


def test_the_nobin_ranking_without_hashnet_is_refused_before_work(tmp_path, capsys):
    from hashnet_lite import cli as C

    code = C.main(["reproduce", "--data", "digits", "--bits", "8", "--methods", "HashNet-nobin", "--out",
                   str(tmp_path / "o"), "--no-progress", "--device", "cpu"])
    assert code == 2 and "add HashNet" in capsys.readouterr().err
    assert not (tmp_path / "o" / "rows").exists()
