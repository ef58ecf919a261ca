"""Where the commands write (checked before any long work, made only when the result is
ready) and what they print besides their results: skipped items and notes of a run."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click


def writable_folder(folder: Path, what: str) -> None:
    """Check, before any long work, that ``folder`` can be made and written, without making
    it: a command that fails leaves no empty folder behind."""
    existing = next(
        (place for place in (folder, *folder.absolute().parents) if place.exists()), Path("/")
    )
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, f"{existing} is not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise click.ClickException(
            f"{folder}: cannot write the {what} there ({error.strerror or error})"
        ) from None


def with_folder(out: Path) -> Path:
    """``out``, once its folder exists: made only when the result is ready to be written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


@contextmanager
def removed_if_left_empty(folder: Path) -> Iterator[None]:
    """Remove ``folder`` (and its empty subfolders) if it is new and the block fails before
    writing anything into it."""
    existed = folder.exists()
    try:
        yield
    except BaseException:
        if not existed and folder.is_dir():
            for place in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if place.is_dir() and not place.is_symlink() and not any(place.iterdir()):
                    place.rmdir()
            if not any(folder.iterdir()):
                folder.rmdir()
        raise


def echo_failures(failures: list[dict[str, str]]) -> None:
    for failure in failures:
        click.echo(f"skipped: {failure['reason']}", err=True)


def echo_embed_notes(
    changed: list[dict[str, str]], unchecked: list[str], short: list[dict[str, str]]
) -> None:
    """What an embed run did beyond embedding: audio changed under stored keys (embedded
    again), keys reused unchecked, and implausibly short audio."""
    if changed:
        click.echo(
            f"embedded again {len(changed)} utterance(s) whose audio changed since they were "
            "stored (their old frames dropped):",
            err=True,
        )
        for change in changed[:10]:
            click.echo(
                f"  {change['key']}: was {change['stored']}, now {change['given']}", err=True
            )
        if len(changed) > 10:
            click.echo(f"  ... and {len(changed) - 10} more", err=True)
    if unchecked:
        click.echo(
            f"reused {len(unchecked)} stored utterance(s) whose audio could not be checked "
            f"(no record of it, or its file is gone), e.g. {', '.join(unchecked[:3])}",
            err=True,
        )
    for note in short:
        click.echo(f"warning: {note['reason']}", err=True)
