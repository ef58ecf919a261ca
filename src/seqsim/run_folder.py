"""A report folder holds one run: the files a run writes are listed, so that the next run
replaces them, and only them.

Every report writer (:func:`seqsim.report.write_report`, :func:`seqsim.report.write_reports`)
writes through a :class:`RunFolder`. It lists each file in ``seqsim-run.json`` before writing
it, and marks the run complete at the end. A folder that holds another run's report is
refused unless ``overwrite`` is given. With ``overwrite``, the files the earlier run listed
are removed first, and nothing else: a store kept in the folder and the user's own files stay.
A folder that holds report files but no list (written by hand, or by a seqsim before 0.2) is
refused too. With ``overwrite``, those files are replaced where the new run writes the same
names, and the others stay.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from ._version import __version__
from .checks import option

RUN_RECORD = "seqsim-run.json"
"""The list of a run's files, in the folder it wrote."""
RESULTS_FILE = "results.json"
"""The file of a report that holds a result's measures and settings, written last."""
RANKS_FILE = "ranks.csv"
"""The file beside ``results.json`` that holds every query's rank."""
MATRIX_FILE = "r_at_1.csv"
"""The R@1 matrix, in percent with one decimal."""
MARKDOWN_FILE = "report.md"
"""The report to read."""
REPORT_FILES = (RESULTS_FILE, MATRIX_FILE, RANKS_FILE, MARKDOWN_FILE)
"""Files that only a report holds: a folder with one of them (or a subfolder with
``results.json``) holds a report."""


class ReportFolderError(ValueError):
    """A report folder that cannot take this run's files; the message names it and says what
    to do.

    Examples
    --------
    >>> from seqsim.run_folder import ReportFolderError
    >>> issubclass(ReportFolderError, ValueError)
    True
    """


def _record_files(folder: Path) -> list[str] | None:
    """The files that the run recorded in ``folder`` listed, checked; None without a record."""
    record_path = folder / RUN_RECORD
    if not record_path.exists() and not record_path.is_symlink():
        return None
    record = read_run_record(folder)
    return list(record["files"])


def read_run_record(folder: str | Path) -> dict[str, Any]:
    """The run record of a report folder, checked.

    Parameters
    ----------
    folder : str or Path
        A folder that a run wrote.

    Returns
    -------
    dict
        ``seqsim_version``, ``started``, ``complete`` (False while the run writes, and for a
        run that was interrupted) and ``files`` (paths relative to ``folder``, each inside it).

    Raises
    ------
    ReportFolderError
        Naming the record, when it is missing, is not a regular file, is not JSON, or lists a
        path that is absolute or leaves the folder.

    Examples
    --------
    >>> import tempfile
    >>> from seqsim.run_folder import RunFolder, read_run_record
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with RunFolder(folder).writing() as run:
    ...         _ = run.file("notes.md").write_text("hello")
    ...     record = read_run_record(folder)
    >>> record["files"], record["complete"]
    (['notes.md'], True)
    """
    path = Path(folder) / RUN_RECORD
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ReportFolderError(f"{path}: not a regular file; remove it")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportFolderError(f"{path}: no run record there") from None
    except (OSError, ValueError) as error:
        raise ReportFolderError(f"{path}: unreadable run record ({error})") from None
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, list) or not all(isinstance(name, str) for name in files):
        raise ReportFolderError(f"{path}: not a run record (no list of files)")
    for name in files:
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ReportFolderError(f"{path}: lists {name!r}, which is not inside the folder")
    return record


def _unlisted_reports(folder: Path) -> list[Path]:
    """Report files in ``folder`` (or its subfolders' ``results.json``) that no record lists."""
    found = [folder / name for name in REPORT_FILES if (folder / name).exists()]
    found += sorted(folder.glob("*/results.json"))
    return found


def check_report_folder(folder: str | Path, *, overwrite: bool = False) -> None:
    """Refuse, before any work, a folder that cannot take a new run's report.

    Parameters
    ----------
    folder : str or Path
        Where the report will go.
    overwrite : bool, default False
        Accept a folder that holds an earlier run's report (its files are replaced).

    Raises
    ------
    ReportFolderError
        When ``folder`` is a file, or holds another run's report and ``overwrite`` is False
        (the message says when that run was written and how to replace it), or its run record
        is damaged.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.run_folder import RunFolder, check_report_folder
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     check_report_folder(folder)  # empty: fine
    ...     with RunFolder(folder).writing() as run:
    ...         _ = run.file("results.json").write_text("{}")
    ...     check_report_folder(folder, overwrite=True)
    ...     check_report_folder(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.run_folder.ReportFolderError: /... holds the report of another run (seqsim ..., \
started ...): give overwrite=True to replace it, or choose another folder
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ReportFolderError(f"{folder} is a file, not a report folder")
    if not folder.is_dir():
        return
    listed = _record_files(folder)
    if overwrite:
        return
    if listed is not None:
        record = read_run_record(folder)
        when = f"seqsim {record.get('seqsim_version')}, started {record.get('started')}"
        if not record.get("complete"):
            when += ", never finished"
        raise ReportFolderError(
            f"{folder} holds the report of another run ({when}): give "
            f"{option('overwrite', True)} to replace it, or choose another folder"
        )
    unlisted = _unlisted_reports(folder)
    if unlisted:
        raise ReportFolderError(
            f"{folder} holds report files of an earlier run ({unlisted[0].name}, ...): give "
            f"{option('overwrite', True)} to replace them, or choose another folder"
        )


def _linked_folder(folder: Path, path: Path) -> Path | None:
    """The first folder between ``folder`` and ``path`` that is a link, or None."""
    inside = [parent for parent in path.parents if folder in parent.parents]
    return next((parent for parent in reversed(inside) if parent.is_symlink()), None)


def _remove_listed(folder: Path, files: list[str]) -> None:
    """Remove the listed files (a link itself, never its target, and nothing under a folder
    that has become a link), then the folders they leave empty, then the record."""
    parents: set[Path] = set()
    for name in files:
        path = folder.joinpath(*PurePosixPath(name).parts)
        if _linked_folder(folder, path) is not None:
            continue
        if path.is_symlink() or path.is_file():
            path.unlink()
        parents.update(p for p in path.parents if folder in p.parents)
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        if parent.is_dir() and not parent.is_symlink() and not any(parent.iterdir()):
            parent.rmdir()
    (folder / RUN_RECORD).unlink(missing_ok=True)


class RunFolder:
    """The folder of one run's report: it lists every file before writing it.

    Parameters
    ----------
    folder : str or Path
        The report folder (created when the first file is written).
    overwrite : bool, default False
        Replace an earlier run's report there (its listed files are removed first); without
        it such a folder is refused (:func:`check_report_folder`).

    Attributes
    ----------
    folder : pathlib.Path
        The folder.
    files : list of str
        The files this run wrote, relative to ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.run_folder import RunFolder
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with RunFolder(folder).writing() as run:
    ...         _ = run.file("a/old.csv").write_text("1")
    ...     _ = (Path(folder) / "mine.txt").write_text("the user's own file")
    ...     with RunFolder(folder, overwrite=True).writing() as run:
    ...         _ = run.file("new.csv").write_text("2")
    ...     print(sorted(p.name for p in Path(folder).iterdir()))
    ['mine.txt', 'new.csv', 'seqsim-run.json']
    """

    def __init__(self, folder: str | Path, *, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.overwrite = overwrite
        self.files: list[str] = []
        self._started = ""

    def _write_record(self, complete: bool) -> None:
        record = {
            "seqsim_version": __version__,
            "started": self._started,
            "complete": complete,
            "files": self.files,
        }
        target = self.folder / RUN_RECORD
        temporary = target.with_name(f".{RUN_RECORD}.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(temporary, flags, 0o666), "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, indent=2) + "\n")
        os.replace(temporary, target)

    @contextmanager
    def writing(self) -> Iterator[RunFolder]:
        """Claim the folder for this run; mark the run complete when the block ends.

        The folder is checked (:func:`check_report_folder`) and, with ``overwrite``, the
        earlier run's listed files removed, before the block runs. A block that raises leaves
        the run marked incomplete, listing what it wrote.

        Yields
        ------
        RunFolder
            This folder; get each file's path from :meth:`file`.

        Raises
        ------
        ReportFolderError
            As :func:`check_report_folder` raises it.
        OSError
            When the folder cannot be created or written.
        """
        check_report_folder(self.folder, overwrite=self.overwrite)
        if self.folder.is_dir():
            listed = _record_files(self.folder)
            if listed is not None:
                _remove_listed(self.folder, listed)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.files = []
        self._write_record(complete=False)
        yield self
        self._write_record(complete=True)

    def file(self, name: str) -> Path:
        """The path of a file of this run, listed (and its folder made) before it is written.

        Parameters
        ----------
        name : str
            A path relative to the folder, with ``/`` between folders.

        Returns
        -------
        pathlib.Path
            Where to write it. A link already there is removed first, so that writing never
            follows it.

        Raises
        ------
        ReportFolderError
            For a path that is absolute or leaves the folder, or under a folder that is a
            link.
        """
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ReportFolderError(f"{name!r} is not a path inside {self.folder}")
        path = self.folder.joinpath(*relative.parts)
        linked = _linked_folder(self.folder, path)
        if linked is not None:
            raise ReportFolderError(f"{linked} is a link; a report writes only inside its folder")
        if name not in self.files:
            self.files.append(name)
            self._write_record(complete=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        return path
