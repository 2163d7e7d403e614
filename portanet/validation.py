"""Shared argument checkers: one clear error naming the owner, the argument, the value
given and what was expected, raised before any state changes.

Every message has the form ``"{owner}: {name}={value!r}; expected {what}"``, e.g.
``"Dense: units=0; expected a positive integer"``. A value of the wrong type raises
``ArgumentTypeError``, which is both a ``TypeError`` and a ``ValueError`` (callers and
tests that catch either keep working). This module imports nothing from portanet, so
every level of the package may use it.
"""

import math
import numbers

__all__ = ["ArgumentTypeError", "check_positive_int", "check_non_negative_int", "check_number",
           "check_one_of"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` that is also a ``ValueError``)."""


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fail(owner, name, value, expected, error=ValueError):
    raise error(f"{owner}: {name}={value!r}; expected {expected}")


def check_positive_int(value, name, owner, allow_none=False):
    """``value`` as an int if it is an integer >= 1 (a bool is not), else an error.

    Args:
        value: the argument given.
        name: the argument's name, e.g. "units".
        owner: who takes it, e.g. "Dense" or "Normalization.adapt".
        allow_none: accept None (returned as is).
    """
    if value is None and allow_none:
        return None
    expected = "a positive integer" + (" or None" if allow_none else "")
    if not _is_int(value):
        _fail(owner, name, value, expected, ArgumentTypeError)
    if value < 1:
        _fail(owner, name, value, expected)
    return int(value)


def check_non_negative_int(value, name, owner, allow_none=False):
    """``value`` as an int if it is an integer >= 0 (a bool is not), else an error.

    Args:
        value: the argument given.
        name: the argument's name, e.g. "seed".
        owner: who takes it.
        allow_none: accept None (returned as is).
    """
    if value is None and allow_none:
        return None
    expected = "a non-negative integer" + (" or None" if allow_none else "")
    if not _is_int(value):
        _fail(owner, name, value, expected, ArgumentTypeError)
    if value < 0:
        _fail(owner, name, value, expected)
    return int(value)


def _describe_range(low, high, low_open, high_open):
    if low is not None and high is not None:
        return f"a float in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low == 0:
        return "a positive float" if low_open else "a non-negative float"
    if low is not None:
        return f"a float {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"a float {'<' if high_open else '<='} {high}"
    return "a float"


def check_number(value, name, owner, low=None, high=None, low_open=False, high_open=False,
                 allow_none=False, allow_inf=False):
    """``value`` as a float if it is a real number in the given range, else an error.

    The expected range is written as the messages elsewhere in portanet write it: "a float
    in [0, 1)", "a non-negative float", "a positive float", "a float >= 2".

    Args:
        value: the argument given.
        name: the argument's name, e.g. "rate".
        owner: who takes it.
        low, high: the bounds (None: unbounded on that side).
        low_open, high_open: exclude the bound itself.
        allow_none: accept None (returned as is).
        allow_inf: accept an infinite value inside the range (NaN is always refused).
    """
    if value is None and allow_none:
        return None
    expected = _describe_range(low, high, low_open, high_open) + (" or None" if allow_none else "")
    if not _is_number(value):
        _fail(owner, name, value, expected, ArgumentTypeError)
    number = float(value)
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        _fail(owner, name, value, expected)
    if low is not None and (number < low or (low_open and number == low)):
        _fail(owner, name, value, expected)
    if high is not None and (number > high or (high_open and number == high)):
        _fail(owner, name, value, expected)
    return number


def check_one_of(value, name, owner, choices):
    """``value`` if it is one of ``choices`` (compared with ==), else a ValueError listing them.

    Args:
        value: the argument given.
        name: the argument's name, e.g. "padding".
        owner: who takes it.
        choices: the valid values (a tuple or list), listed in the message in this order.
    """
    choices = tuple(choices)
    try:
        ok = value in choices
    except (TypeError, ValueError):  # e.g. an array, whose == is elementwise: not a choice
        ok = False
    if not ok:
        _fail(owner, name, value, f"one of {choices}")
    return value
