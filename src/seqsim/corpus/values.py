"""The checks of an utterance's id, language and sentence, shared by every reader, and the
quoting of names in their messages."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from .model import CorpusError

_ODD_IN_IDENTIFIERS = ("Cc", "Cf", "Zl", "Zp")
"""Unicode categories refused in an id or lang: controls (tab, newline, ...), invisible
format characters (zero-width space, BOM, ...), line and paragraph separators."""


def _names(names: Iterable[str]) -> str:
    """Column names for a message, quoted where they hold anything but word characters, ``.``
    and ``-`` (so that spaces, separators and invisible characters show)."""
    return ", ".join(n if re.fullmatch(r"[\w.-]+", n) else repr(n) for n in names)


def _identifier(where: str, column: str, value: str) -> str:
    """An ``id`` or ``lang`` without surrounding whitespace; refused if it holds a control
    or invisible character."""
    value = value.strip()
    odd = [c for c in value if unicodedata.category(c) in _ODD_IN_IDENTIFIERS]
    if odd:
        raise CorpusError(
            f"{where}: {column} {value!r} contains {odd[0]!r}, a control or invisible character"
        )
    return value
