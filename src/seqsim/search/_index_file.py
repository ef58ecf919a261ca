"""An index file as :meth:`SequenceIndex.save <seqsim.search.SequenceIndex.save>` writes it
and :meth:`~seqsim.search.SequenceIndex.load` reads it back: members whose sizes are checked
before they are read, settings checked field by field, and saves of one path serialised.

Every function names the file (``where``) and what is wrong in a :class:`SearchIndexError`.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics.base import Metric, get_metric
from ..sequences import PackedSequences, as_packed
from ..store.files import StoreWriteError, temporary_owner, temporary_path
from .candidates import CandidateGenerator, generator_class
from .errors import SearchIndexError


def read_members(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the index file ``path``, none read before its size is known to fit.

    :meth:`SequenceIndex.save` stores every member uncompressed, so no member of its files is
    larger than the file: a larger declared size (a zip bomb's) is refused from the central
    directory, and a ``.npy`` header whose shape does not match the bytes its member holds
    (a forged shape of petabytes) is refused before the array is made. What is read is
    therefore never more than the file holds."""
    size = path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        for member in members:
            _check_member(path, archive, member, size)
        return {
            member.filename[: -len(".npy")]: _read_member(archive, member) for member in members
        }


def _check_member(path: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo, size: int) -> None:
    """Refuse ``member`` of the index file ``path`` (``size`` bytes) unless it is a ``.npy``
    array no larger than the file whose header's shape and dtype account for its bytes."""
    name = member.filename
    if not name.endswith(".npy"):
        raise SearchIndexError(f"{path}: its member {name!r} is not a .npy array")
    if member.file_size > size:
        raise SearchIndexError(
            f"{path}: its member {name!r} declares {member.file_size} bytes, more than the "
            f"{size} of the whole file (a compressed or forged member; seqsim stores them "
            "uncompressed): not an index seqsim wrote"
        )
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(handle)
        header = handle.tell()
    if dtype.hasobject:
        raise SearchIndexError(f"{path}: its member {name!r} holds Python objects, not numbers")
    data = math.prod(shape) * dtype.itemsize
    if header + data != member.file_size:
        raise SearchIndexError(
            f"{path}: its member {name!r} has a header of shape {shape} ({data} bytes of "
            f"{dtype}), but holds {member.file_size - header} bytes: damaged or forged"
        )


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> np.ndarray:
    """The array of a member that :func:`_check_member` accepted (its CRC checked)."""
    with archive.open(member) as handle:
        array = np.lib.format.read_array(handle, allow_pickle=False)
        handle.read()  # to its end, so that zipfile checks the CRC of every byte
    return array


_KINDS = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


def kind_of(value: Any) -> str:
    """What a JSON value is, for messages: ``a list``, ``null``, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    named = [name for kind, name in _KINDS.items() if isinstance(value, kind)]
    return named[0] if named else type(value).__name__


def field(where: str, settings: dict[str, Any], name: str, kind: type) -> Any:
    """``settings[name]``, refused (naming the file and the field) where it is missing or
    not a ``kind``."""
    if name not in settings:
        raise SearchIndexError(f"{where}: its settings lack {name!r}: damaged, or not an index")
    value = settings[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SearchIndexError(
            f"{where}: its settings' {name!r} is {kind_of(value)}, where {_KINDS[kind]} belongs"
        )
    return value


def check_keys(where: str, keys: Any) -> None:
    """Refuse saved keys that are not a list of distinct strings."""
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise SearchIndexError(f"{where}: its keys are not a list of strings")
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise SearchIndexError(f"{where}: its key {key!r} names two sequences")
        seen.add(key)


def saved_metric(
    where: str, settings: dict[str, Any], run_options: dict[str, Any] | None
) -> Metric:
    """The metric that saved ``settings`` describe, run where ``run_options`` say."""
    options = dict(settings)
    name = field(where, options, "metric", str)
    del options["metric"]
    try:
        return get_metric(name, **options, **(run_options or {}))
    except (ValueError, TypeError) as error:
        raise SearchIndexError(f"{where}: its metric cannot be built ({error})") from None


def saved_generator(
    where: str,
    settings: dict[str, Any],
    arrays: dict[str, np.ndarray],
    generator_type: type[CandidateGenerator] | None,
) -> CandidateGenerator:
    """The shortlist that saved ``settings`` describe, given its saved ``arrays``."""
    options = dict(settings)
    name = field(where, options, "generator", str)
    del options["generator"]
    if generator_type is None:
        try:
            generator_type = generator_class(name)
        except ValueError as error:
            raise SearchIndexError(f"{where}: its shortlist: {error}") from None
    try:
        generator = generator_type(**options)
    except (TypeError, ValueError) as error:
        raise SearchIndexError(
            f"{where}: its shortlist options {options} do not fit the {name!r} generator ({error})"
        ) from None
    prefix = "shortlist_"
    state = {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}
    try:
        generator.restore(state)
    except KeyError as error:
        raise SearchIndexError(f"{where}: its shortlist lacks the array {error}") from None
    except (ValueError, TypeError, IndexError, RuntimeError) as error:
        raise SearchIndexError(f"{where}: its shortlist cannot be restored ({error})") from None
    return generator


def saved_frames(
    where: str, arrays: dict[str, np.ndarray], count: int, dim: int
) -> PackedSequences:
    """The frames saved with an index of arrays: ``count`` sequences of dimension ``dim``."""
    missing = [name for name in ("frames", "lengths") if name not in arrays]
    if missing:
        raise SearchIndexError(f"{where}: it lacks the array {missing[0]!r}")
    frames, lengths = arrays["frames"], arrays["lengths"]
    if lengths.shape != (count,) or lengths.dtype.kind not in "iu":
        raise SearchIndexError(
            f"{where}: its lengths are {lengths.dtype} of shape {lengths.shape}, expected "
            f"integers of shape ({count},), one per key"
        )
    try:
        packed = PackedSequences.from_lengths(frames, lengths)
        return as_packed(packed, "its frames", dim=dim, dim_of="the dimension it records")
    except ValueError as error:
        raise SearchIndexError(f"{where}: {error}") from None


@contextmanager
def saving(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` exclusively while the block saves ``path``, waiting for another
    process's save of it to end; the lock file is opened without following links, and
    removed at the end (a waiter that then locks the removed file tries again)."""
    lock = path.with_name(f"{path.name}.lock")
    while True:
        try:
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as error:
            why = "it is a link" if error.errno == errno.ELOOP else error.strerror
            raise StoreWriteError(f"{lock}: cannot lock {path.name} to save it: {why}") from None
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        if _is_file_at(descriptor, lock):
            break
        os.close(descriptor)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(descriptor)


def _is_file_at(descriptor: int, path: Path) -> bool:
    """Whether the open ``descriptor`` is the file at ``path`` (not one removed from there)."""
    try:
        there = path.lstat()
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (opened.st_dev, opened.st_ino) == (there.st_dev, there.st_ino)


def remove_killed_saves(path: Path) -> list[Path]:
    """Remove the temporary files of saves of ``path`` (seqsim's names only:
    ``.seqsim-tmp.<owner>.<name of path>``); called holding its lock (:func:`_saving`), when
    no living save of ``path`` has one, so all are those of killed saves."""
    removed = []
    for candidate in path.parent.iterdir():
        owner = temporary_owner(candidate)
        if owner is not None and candidate == temporary_path(path, owner):
            if not candidate.is_dir():
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed
