"""The one progress bar every part of seqsim uses, made to show wherever stderr goes.

tqdm sizes its bar from the terminal. A pseudo-terminal that reports a 0x0 window (some CI
runners, ``script``) makes tqdm print nothing at all: it takes the window as having no room for
a bar. There the bar gets a fixed size instead. When stderr is not a terminal at all (a log
file, a pipe), the bar is redrawn every :data:`LOG_INTERVAL_S` seconds only, so that logs are
not flooded but a long job still shows that it is alive.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm.auto import tqdm

FALLBACK_COLUMNS = 80
FALLBACK_ROWS = 24
LOG_INTERVAL_S = 5.0


def _draws_widgets() -> bool:
    """Whether tqdm.auto chose Jupyter widgets (then it has imported tqdm.notebook)."""
    notebook = sys.modules.get("tqdm.notebook")
    return notebook is not None and issubclass(tqdm, notebook.tqdm_notebook)


def _text_options(stream: TextIO) -> dict[str, Any]:
    """tqdm options: a fixed size where a terminal gives none, slow refresh where no terminal."""
    if not stream.isatty():
        return {"ncols": FALLBACK_COLUMNS, "mininterval": LOG_INTERVAL_S}
    try:
        columns, rows = os.get_terminal_size(stream.fileno())
    except OSError:
        columns = rows = 0
    if columns > 0 and rows > 0:
        return {}
    return {"ncols": FALLBACK_COLUMNS, "nrows": FALLBACK_ROWS}


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    disable: bool = False,
) -> tqdm:
    """A tqdm bar on stderr (a widget in a notebook) that shows on any terminal or log.

    Use it as tqdm: wrap ``iterable``, or give ``total`` and call ``update``. On a terminal
    that reports a 0x0 window the bar gets a fixed size (:data:`FALLBACK_COLUMNS` x
    :data:`FALLBACK_ROWS`); where stderr is no terminal (a log file, a pipe) it is redrawn every
    :data:`LOG_INTERVAL_S` seconds only.

    Parameters
    ----------
    iterable : Iterable, optional
        What to iterate over, as in ``tqdm(iterable)``.
    total : float, optional
        The expected number of updates (default: ``len(iterable)`` where it has one).
    desc : str, optional
        The label in front of the bar.
    unit : str, default "it"
        What one update counts (``"utt"``, ``"pair"``, ...).
    disable : bool, default False
        Show nothing at all.

    Returns
    -------
    tqdm.tqdm
        The bar; a context manager, and an iterable where ``iterable`` was given.

    Examples
    --------
    >>> from seqsim.progress import progress_bar
    >>> [2 * x for x in progress_bar(range(3), desc="doubling", disable=True)]
    [0, 2, 4]
    >>> with progress_bar(total=2, unit="utt") as bar:  # drawn on stderr
    ...     _ = bar.update(2)
    ...     bar.n
    2
    """
    options = {} if disable or _draws_widgets() else _text_options(sys.stderr)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, **options)
