"""Argument checks of the augmentation ops: a clear ``ValueError``/``TypeError`` naming the
op and the parameter at construction, instead of a wrong draw or a failure deep inside torch
on the first batch."""

from __future__ import annotations

import math
from numbers import Integral, Real


def _real(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{owner}: {name} must be a real number; got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be finite; got {value!r}.")
    return value


def real(owner: str, name: str, value, low: float | None = None, high: float | None = None,
         low_open: bool = False) -> float:
    """``value`` as a float, checked to lie in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    value = _real(owner, name, value)
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        left = "(" if low_open or low is None else "["
        right = ")" if high is None else "]"
        bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ValueError(f"{owner}: {name} must be in {bounds}; got {value!r}.")
    return value


def probability(owner: str, name: str, value) -> float:
    """A probability in [0, 1]."""
    return real(owner, name, value, 0.0, 1.0)


def interval(owner: str, name: str, value, low: float | None = None, high: float | None = None,
             low_open: bool = False) -> tuple[float, float]:
    """A pair ``(a, b)`` with ``a <= b``, both in the bounds (see :func:`real`)."""
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a pair (low, high); got {value!r}.") from None
    a = real(owner, name, a, low, high, low_open)
    b = real(owner, name, b, low, high, low_open)
    if a > b:
        raise ValueError(f"{owner}: {name} must be (low, high) with low <= high; got {value!r}.")
    return a, b


def positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{owner}: {name} must be an int; got {value!r}.")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be at least 1; got {value!r}.")
    return int(value)
