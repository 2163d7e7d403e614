"""portanet.validation: the shared argument checkers (messages, types, bounds)."""

import ast
import pathlib

import numpy as np
import pytest

from portanet import validation as V


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_positive_int_accepts_and_returns_int(value):
    out = V.check_positive_int(value, "units", "Dense")
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value,error", [(0, ValueError), (-2, ValueError), (True, TypeError),
                                         (2.0, TypeError), ("3", TypeError), (None, TypeError)])
def test_positive_int_refuses(value, error):
    with pytest.raises(error) as info:
        V.check_positive_int(value, "units", "Dense")
    assert str(info.value) == f"Dense: units={value!r}; expected a positive integer"


def test_type_errors_are_also_value_errors():
    with pytest.raises(ValueError):
        V.check_positive_int("3", "units", "Dense")
    with pytest.raises(TypeError):
        V.check_number("0.5", "rate", "Dropout", 0, 1, high_open=True)


def test_allow_none():
    assert V.check_positive_int(None, "steps", "adapt", allow_none=True) is None
    assert V.check_non_negative_int(None, "seed", "f", allow_none=True) is None
    assert V.check_number(None, "x", "f", allow_none=True) is None
    with pytest.raises(ValueError, match=r"^adapt: steps=0; expected a positive integer or None$"):
        V.check_positive_int(0, "steps", "adapt", allow_none=True)


def test_non_negative_int():
    assert V.check_non_negative_int(0, "seed", "set_random_seed") == 0
    assert V.check_non_negative_int(5, "seed", "set_random_seed") == 5
    with pytest.raises(ValueError, match=r"^set_random_seed: seed=-1; expected a non-negative integer$"):
        V.check_non_negative_int(-1, "seed", "set_random_seed")
    with pytest.raises(TypeError):
        V.check_non_negative_int(False, "seed", "set_random_seed")


@pytest.mark.parametrize("kwargs,expected", [
    (dict(low=0, high=1, high_open=True), "a float in [0, 1)"),
    (dict(low=0, high=1, low_open=True), "a float in (0, 1]"),
    (dict(low=0), "a non-negative float"),
    (dict(low=0, low_open=True), "a positive float"),
    (dict(low=2), "a float >= 2"),
    (dict(high=3, high_open=True), "a float < 3"),
])
def test_number_range_messages(kwargs, expected):
    with pytest.raises(ValueError) as info:
        V.check_number(-5.0 if "low" in kwargs else 9.0, "rate", "Dropout", **kwargs)
    value = -5.0 if "low" in kwargs else 9.0
    assert str(info.value) == f"Dropout: rate={value!r}; expected {expected}"


def test_number_bounds_are_exact():
    assert V.check_number(0, "rate", "Dropout", 0, 1, high_open=True) == 0.0
    assert V.check_number(0.999, "rate", "Dropout", 0, 1, high_open=True) == 0.999
    with pytest.raises(ValueError):
        V.check_number(1, "rate", "Dropout", 0, 1, high_open=True)
    with pytest.raises(ValueError):
        V.check_number(0, "beta_1", "Lion", 0, 1, low_open=True)
    assert V.check_number(1, "beta_1", "Lion", 0, 1, low_open=True) == 1.0
    assert type(V.check_number(1, "x", "f")) is float


def test_number_refuses_nan_and_inf_unless_allowed():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            V.check_number(bad, "lr", "SGD", low=0)
    assert V.check_number(float("inf"), "x", "f", low=0, allow_inf=True) == float("inf")
    with pytest.raises(ValueError):
        V.check_number(float("nan"), "x", "f", allow_inf=True)


def test_one_of():
    assert V.check_one_of("same", "padding", "Conv2D", ("valid", "same")) == "same"
    with pytest.raises(ValueError) as info:
        V.check_one_of("full", "padding", "Conv2D", ("valid", "same"))
    assert str(info.value) == "Conv2D: padding='full'; expected one of ('valid', 'same')"
    with pytest.raises(ValueError):
        V.check_one_of([1], "padding", "Conv2D", ("valid", "same"))
    with pytest.raises(ValueError):
        V.check_one_of(np.zeros(3), "mode", "f", ("a", "b"))


def test_validation_imports_nothing_from_portanet():
    tree = ast.parse(pathlib.Path(V.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("portanet"), ast.dump(node)
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("portanet") for a in node.names)
