"""Checks of the options that users pass (metrics, the embedder, the evaluator, the store):
each raises a one-line ``ValueError`` that names the option and the value it got.

Messages name an option as the caller writes it (:func:`option`): ``search='index'`` to a
Python caller, ``--search index`` on the command line, which sets the spelling for the
commands it runs (:func:`command_line_spelling`).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

_SPELLING: ContextVar[str] = ContextVar("seqsim_option_spelling", default="python")
_UNSET = object()
_COMMAND_LINE_NAMES = {"corpus": "--manifest", "layers": "--layers", "store": "--store"}
"""Options whose command-line name is not ``--`` and the Python name with ``-`` for ``_``."""


@contextmanager
def command_line_spelling() -> Iterator[None]:
    """Within the block, messages name options as the command line writes them.

    Examples
    --------
    >>> from seqsim.checks import command_line_spelling, option
    >>> option("agreement_sample", 5)
    'agreement_sample=5'
    >>> with command_line_spelling():
    ...     option("agreement_sample", 5), option("center", True)
    ('--agreement-sample 5', '--center')
    """
    token = _SPELLING.set("command line")
    try:
        yield
    finally:
        _SPELLING.reset(token)


def option(name: str, value: object = _UNSET) -> str:
    """An option (with its value, if given) as the caller writes it, for messages.

    Parameters
    ----------
    name : str
        The Python keyword.
    value : object, optional
        Its value.

    Returns
    -------
    str
        ``name`` or ``name=value!r`` for Python; ``--name`` or ``--name value`` (a flag for
        True) inside :func:`command_line_spelling`.

    Examples
    --------
    >>> from seqsim.checks import option
    >>> option("search", "index"), option("normalization")
    ("search='index'", 'normalization')
    """
    if _SPELLING.get() == "python":
        return name if value is _UNSET else f"{name}={value!r}"
    flag = _COMMAND_LINE_NAMES.get(name, "--" + name.replace("_", "-"))
    if value is _UNSET or value is True:
        return flag
    return f"{flag} {value}"


def refuse_unknown(
    function: str,
    unknown: Iterable[str],
    valid: Collection[str],
    hints: Mapping[str, str] | None = None,
) -> None:
    """Raise ``TypeError`` for a keyword that ``function`` does not take, as Python words it
    but naming the function the caller called, the keywords it takes, and what to use.

    Parameters
    ----------
    function : str
        The name the caller called.
    unknown : iterable of str
        The keywords it was given and does not take.
    valid : collection of str
        The keywords it takes.
    hints : mapping of str to str, optional
        What to say for a known wrong keyword; by default the closest valid one is suggested.

    Raises
    ------
    TypeError
        For the first unknown keyword.

    Examples
    --------
    >>> from seqsim.checks import refuse_unknown
    >>> refuse_unknown("evaluate", [], ["store"])
    >>> refuse_unknown("evaluate", ["stor"], ["store", "model"])
    Traceback (most recent call last):
        ...
    TypeError: evaluate() got an unexpected keyword argument 'stor' (it takes store, model); \
did you mean 'store'?
    """
    for name in unknown:
        close = difflib.get_close_matches(name, list(valid), n=1)
        if hints and name in hints:
            hint = f"; {hints[name]}"
        else:
            hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(
            f"{function}() got an unexpected keyword argument {name!r} "
            f"(it takes {', '.join(valid)}){hint}"
        )


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
        raise ValueError(f"{option(name)} must be a {kind} finite {what}, got {value!r}")


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
        raise ValueError(f"{option(name)} must be an integer >= {minimum}, got {value!r}")


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
        raise ValueError(f"{option(name)} must be True or False, got {value!r}")


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
        raise ValueError(f"{option(name)} must be one of {listed}; got {value!r}")
