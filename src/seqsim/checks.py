"""Checks of the options that users pass (metrics, the embedder, the evaluator, the store):
each raises a one-line ``ValueError`` that names the option and the value it got."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection


def check_positive(name: str, value: object, what: str = "number", *, zero: bool = False) -> None:
    """Check that ``value`` is a finite real number above 0 (or 0 too, with ``zero``).

    A bool or a string is refused, and so are NaN and infinity.

    Parameters
    ----------
    name : str
        The option's name, for the error message.
    value : object
        What the user passed.
    what : str, default "number"
        What the option counts, for the message (``"number of MiB"``, ...).
    zero : bool, default False
        Accept 0 as well.

    Raises
    ------
    ValueError
        When ``value`` is not a real number, is a bool, is NaN or infinite, or is below 0 (or
        not above it, without ``zero``); the message names the option and the value.

    Examples
    --------
    >>> from seqsim.checks import check_positive
    >>> check_positive("working_memory", 64.0)
    >>> check_positive("flush_seconds", 0, "number of seconds", zero=True)
    >>> check_positive("working_memory", 0, "number of MiB")
    Traceback (most recent call last):
        ...
    ValueError: working_memory must be a positive finite number of MiB, got 0
    """
    number = float(value) if isinstance(value, numbers.Real) else math.nan
    if isinstance(value, bool) or not (0 <= number if zero else 0 < number) or number == math.inf:
        kind = "non-negative" if zero else "positive"
        raise ValueError(f"{name} must be a {kind} finite {what}, got {value!r}")


def check_count(name: str, value: object, minimum: int) -> None:
    """Check that ``value`` is an integer (numpy integers too; not a bool) of at least ``minimum``.

    Parameters
    ----------
    name : str
        The option's name, for the error message.
    value : object
        What the user passed.
    minimum : int
        The smallest value allowed.

    Raises
    ------
    ValueError
        When ``value`` is not an integer, is a bool, or is below ``minimum``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.checks import check_count
    >>> check_count("batch_size", np.int64(4), 1)
    >>> check_count("batch_size", 2.0, 1)
    Traceback (most recent call last):
        ...
    ValueError: batch_size must be an integer >= 1, got 2.0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_flag(name: str, value: object) -> None:
    """Check that ``value`` is True or False (not 0, 1 or any other truthy object).

    Parameters
    ----------
    name : str
        The option's name, for the error message.
    value : object
        What the user passed.

    Raises
    ------
    ValueError
        When ``value`` is not a bool.

    Examples
    --------
    >>> from seqsim.checks import check_flag
    >>> check_flag("strict", False)
    >>> check_flag("strict", 1)
    Traceback (most recent call last):
        ...
    ValueError: strict must be True or False, got 1
    """
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_choice(name: str, value: object, choices: Collection[str]) -> None:
    """Check that ``value`` is one of the strings ``choices``.

    Parameters
    ----------
    name : str
        The option's name, for the error message.
    value : object
        What the user passed.
    choices : Collection of str
        The values allowed, listed in the message in this order.

    Raises
    ------
    ValueError
        When ``value`` is not a string or not one of ``choices``.

    Examples
    --------
    >>> from seqsim.checks import check_choice
    >>> check_choice("dtype", "float16", ("float16", "float32"))
    >>> check_choice("dtype", "int8", ("float16", "float32"))
    Traceback (most recent call last):
        ...
    ValueError: dtype must be one of 'float16', 'float32'; got 'int8'
    """
    if not (isinstance(value, str) and value in choices):
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}")
