"""Checks of the options that users pass (metrics, the embedder, the evaluator, the store):
each raises a one-line ``ValueError`` that names the option and the value it got."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection


def check_positive(name: str, value: object, what: str = "number", *, zero: bool = False) -> None:
    """``value`` must be a finite real number above 0 (or 0 too, with ``zero``); a bool or a
    string is refused."""
    number = float(value) if isinstance(value, numbers.Real) else math.nan
    if isinstance(value, bool) or not (0 <= number if zero else 0 < number) or number == math.inf:
        kind = "non-negative" if zero else "positive"
        raise ValueError(f"{name} must be a {kind} finite {what}, got {value!r}")


def check_count(name: str, value: object, minimum: int) -> None:
    """``value`` must be an integer (numpy integers too; not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_flag(name: str, value: object) -> None:
    """``value`` must be True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_choice(name: str, value: object, choices: Collection[str]) -> None:
    """``value`` must be one of the strings ``choices``."""
    if not (isinstance(value, str) and value in choices):
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}")
