"""How the commands end when something goes wrong: the library's input errors as one-line
messages (exit code 1), an interruption (Ctrl-C, SIGTERM) as the exit code shells expect, and
what an interrupted embedding run keeps."""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

# The library's input errors that are not ValueErrors (CorpusError, AudioError, CheckpointError
# and the metrics' option errors are), by module. A class can only have been raised once its
# module was imported, so they are looked up among the loaded modules, never imported here.
_ERROR_CLASSES = {
    "seqsim.store.files": ("StoreError",),
    "seqsim.distributed.cluster": ("RayNotInstalledError", "RayConnectionError"),
}


def library_errors() -> tuple[type[Exception], ...]:
    """The exception classes that :func:`friendly_errors` shows as one line."""
    loaded = [
        getattr(sys.modules[module], name)
        for module, names in _ERROR_CLASSES.items()
        if module in sys.modules
        for name in names
    ]
    return (*loaded, ValueError)


class Terminated(KeyboardInterrupt):
    """SIGTERM, unwound like Ctrl-C (so finished work is flushed), exiting with code 143."""


def terminate(signum: int, frame: object) -> None:
    """SIGTERM (``kill``, a batch scheduler's time limit) unwinds like Ctrl-C, so the utterances
    finished but not yet flushed are written before the process exits (code 143)."""
    raise Terminated


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's input errors into one-line CLI errors (exit code 1), naming options
    as the command line writes them; an interruption exits with 130 (Ctrl-C) or 143
    (SIGTERM), as shells expect, saying so."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..checks import command_line_spelling

        try:
            with command_line_spelling():
                return command(*args, **kwargs)
        except library_errors() as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:  # a file the library did not name itself
            where = f"{error.filename}: " if error.filename else ""
            raise click.ClickException(f"{where}{error.strerror or error}") from None
        except KeyboardInterrupt as interruption:
            signal_name = "SIGTERM" if isinstance(interruption, Terminated) else "Ctrl-C"
            click.echo(f"interrupted ({signal_name})", err=True)
            code = 128 + (signal.SIGTERM if isinstance(interruption, Terminated) else signal.SIGINT)
            raise click.exceptions.Exit(code) from None

    return wrapper


@contextmanager
def resumable(store_path: Path, keys: list[str]) -> Iterator[None]:
    """On an interruption while ``keys`` are embedded into the store at ``store_path``, say
    how many of them the store keeps and that the same command resumes."""
    try:
        yield
    except KeyboardInterrupt:
        from ..store import EmbeddingStore, StoreError

        try:
            stored = len(set(keys) & set(EmbeddingStore(store_path).keys()))
        except StoreError:
            stored = 0
        click.echo(
            f"{stored} of {len(keys)} utterances are stored in {store_path} (finished work is "
            "kept); run the same command again to resume: they are not embedded again",
            err=True,
        )
        raise
