"""hashnet_lite.checks: the argument checks and the label conversions written once for the
whole package (numpy only; torch tensors are read without importing torch here)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hashnet_lite.checks import (
    as_numpy,
    check,
    check_integer,
    check_option,
    class_ids,
    is_finite_number,
    is_integer,
    is_number,
    label_rows,
)


def test_is_integer_and_is_number_refuse_bools():
    for value in (0, -3, np.int8(4), np.uint64(2)):
        assert is_integer(value) and is_number(value)
    for value in (2.0, np.float32(1.5)):
        assert not is_integer(value) and is_number(value)
    for value in (True, np.bool_(True), "3", None, 1j):
        assert not is_integer(value) and not is_number(value)


def test_check_message_names_the_argument_and_the_expectation():
    check(True, "lr", -1, "a number > 0")
    with pytest.raises(ValueError, match=r"^lr=-1 is invalid: expected a number > 0$"):
        check(False, "lr", -1, "a number > 0")


def test_check_integer():
    assert check_integer("k", 5, 1) == 5 and type(check_integer("k", np.int64(5), 1)) is int
    for bad in (0, 2.5, True, "5"):
        with pytest.raises(ValueError, match=rf"^k={bad!r} is invalid: expected an integer >= 1$"):
            check_integer("k", bad, 1)


def test_check_option():
    assert check_option("ties", "index", ("index", "tie_aware")) == "index"
    with pytest.raises(ValueError, match=r"ties='random' is unknown: expected one of 'index', 'tie_aware'"):
        check_option("ties", "random", ("index", "tie_aware"))
    with pytest.raises(ValueError, match="ties=1"):
        check_option("ties", 1, ("index",))


def test_as_numpy_views_and_tensors():
    a = np.arange(6).reshape(2, 3)
    assert as_numpy(a, "a") is a  # the array itself, never a copy
    t = torch.arange(4.0, requires_grad=True)
    np.testing.assert_array_equal(as_numpy(t, "t"), [0, 1, 2, 3])
    bf = as_numpy(torch.tensor([1.5, -1.0], dtype=torch.bfloat16), "t")  # no numpy dtype: float32
    assert bf.dtype == np.float32 and bf.tolist() == [1.5, -1.0]
    np.testing.assert_array_equal(as_numpy([[1, 2]], "x"), [[1, 2]])
    with pytest.raises(ValueError, match="ragged could not be read as an array"):
        as_numpy([[1, 2], [3]], "ragged")


def test_label_rows_class_ids_and_multi_hot():
    np.testing.assert_array_equal(label_rows(np.array([2, 0])), [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(label_rows(np.array([1]), num_classes=4), [[0, 1, 0, 0]])
    rows = label_rows(np.array([[0, 1.0], [0, 0]]))
    assert rows.dtype == np.uint8 and rows.tolist() == [[0, 1], [0, 0]]
    assert label_rows(torch.tensor([[True, False]])).tolist() == [[1, 0]]
    cases = [(np.array([0.5, 1.0]), "class ids"), (np.array([-1, 0]), "class ids"), (np.array([[0, 2]]), "0/1"),
             (np.zeros((2, 2, 2)), "shape"), (np.array([3]), "class id 3")]
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            label_rows(bad, "y", num_classes=3 if match == "class id 3" else None)


def test_class_ids_first_label_and_no_label():
    y = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]])
    ids = class_ids(y)
    assert ids.dtype == np.int64 and ids.tolist() == [1, 0, -1]
    np.testing.assert_array_equal(class_ids(np.array([2, 0])), [2, 0])
    np.testing.assert_array_equal(class_ids(torch.tensor([1, 1, 0])), [1, 1, 0])
    with pytest.raises(ValueError, match="0/1"):
        class_ids(np.array([[0, 2]]))


def test_is_finite_number():
    assert is_finite_number(0.5) and is_finite_number(3) and is_finite_number(np.float32(2))
    for bad in (float("inf"), -float("inf"), float("nan"), True, "1", None):
        assert not is_finite_number(bad), bad


def test_label_rows_never_cast_class_ids_through_a_lossy_type():
    ids = np.array([0, 2, 1], dtype=np.uint64)
    assert label_rows(ids).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    # An id of 2**63 was cast to int64 (negative); its one-hot row would need 2**63 columns.
    with pytest.raises(ValueError, match=r"class id 9223372036854775808: one-hot rows would need .*np\.unique"):
        label_rows(np.array([3, 2**63], dtype=np.uint64))
    with pytest.raises(ValueError, match="must hold class ids"):  # float ids are refused, never rounded
        label_rows(np.array([1e19, 1e30]))
