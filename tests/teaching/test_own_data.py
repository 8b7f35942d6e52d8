"""Lesson 09, your own data: the two checkers pass the reference, name the typical wrong answers
(at least three each) and let an unanswered exercise through; the digits arrive as arrays."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_checker_names_the_slip

from hashnet_lite.teaching import exercises as ex
from hashnet_lite.teaching import own_data as od


def split(x, y, q, t, seed, *, stratified=True, train_from_all=False):
    rng = np.random.default_rng(seed)
    if stratified:
        query = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:q] for c in np.unique(y)])
    else:
        query = rng.permutation(len(y))[:q * len(np.unique(y))]
    rest = np.setdiff1d(np.arange(len(y)), query)
    pool = np.arange(len(y)) if train_from_all else rest
    train = np.concatenate([rng.permutation(pool[y[pool] == c])[:t] for c in np.unique(y)])
    return np.sort(query), np.sort(train), rest


def writer(*, keys=("x_train", "y_train", "x_query", "y_query", "x_database", "y_database"), leak=False,
           misaligned=False, database_is_train=False, **kw):
    def write_npz(path, x, y, query_per_class=18, train_per_class=50, seed=0):
        query, train, database = split(x, y, query_per_class, train_per_class, seed, **kw)
        if leak:
            database = np.arange(len(y))
        if database_is_train:
            database = train
        labels = np.random.default_rng(1).permutation(y) if misaligned else y
        parts = dict(zip(keys, (x[train], labels[train], x[query], labels[query], x[database], labels[database])))
        np.savez(path, **parts)
        return path
    return write_npz


def report(*, all_r=False, always_zero=False, all_queries=False, drop=None, ties="index"):
    def protocol_report(codes_path, topk, empty):
        out = od._reference_protocol_report(codes_path, None if all_r else topk, "zero" if always_zero else empty)
        out["R"], out["empty"], out["ties"] = topk, empty, ties
        if all_queries:
            with np.load(codes_path) as f:
                out["queries"] = len(f["query_codes"])
        if drop:
            del out[drop]
        return out
    return protocol_report


WRONG = {
    "write_npz": {
        "queries in the database": (writer(leak=True), "in the database too"),
        "queries drawn at random": (writer(stratified=False), "per class"),
        "training items from all": (writer(train_from_all=True), "training items are queries"),
        "labels shuffled apart": (writer(misaligned=True), "do not belong"),
        "other key names": (writer(keys=("x_train", "y_train", "x_test", "y_test", "x_db", "y_db")), "npz.py reads"),
        "database = training set": (writer(database_is_train=True), "the database holds"),
    },
    "protocol_report": {
        "mAP@all": (report(all_r=True), "pass topk=R"),
        "always zero": (report(always_zero=True), "other convention"),
        "every query counted": (report(all_queries=True), "counts"),
        "no R in the report": (report(drop="R"), "lacks"),
        "tie rule misreported": (report(ties="tie_aware"), "ties"),
    },
}


def test_the_lesson_09_exercises_are_registered_with_wrong_answers():
    assert set(WRONG) == {name for name, e in ex.EXERCISES.items() if e.lesson == "09"}
    assert all(len(slips) >= 3 for slips in WRONG.values())


@pytest.mark.parametrize("name", sorted(WRONG))
def test_the_reference_passes_in_strict_mode(name):
    namespace = {"np": np}
    exec(ex.solution_source(name), namespace)
    assert ex.EXERCISES[name].check(namespace[name], strict=True).passed


@pytest.mark.parametrize("name, slip", [(n, s) for n in sorted(WRONG) for s in WRONG[n]])
def test_a_typical_wrong_answer_fails_and_says_what_it_is(name, slip):
    assert_checker_names_the_slip(name, *WRONG[name][slip])


@pytest.mark.parametrize("name", sorted(WRONG))
def test_unanswered_passes_quietly(name, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("HASHNET_LITE_STRICT", raising=False)

    def unfinished(*args):
        raise NotImplementedError

    for answer in (None, unfinished):
        assert ex.EXERCISES[name].check(answer).status == ex.OPEN


def test_the_digits_arrive_as_uint8_images():
    x, y = od.digits_as_images()
    assert x.shape == (1797, 8, 8) and x.dtype == np.uint8 and x.max() == 255 and set(np.unique(y)) == set(range(10))


def test_export_npz_gives_the_same_split_back(tmp_path):
    from hashnet_lite.data import load_data

    data = load_data("digits")
    again = load_data(f"npz:{od.export_npz(data, tmp_path / 'digits.npz')}")
    for part in ("train", "query", "database"):
        assert np.array_equal(getattr(again, f"y_{part}"), getattr(data, f"y_{part}"))
        assert np.allclose(again.arrays(part), data.arrays(part))
