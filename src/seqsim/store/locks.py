"""Who writes a store, and whether they are still alive.

Every process that writes into a store first becomes an *owner*: it creates
``writers/<owner>.lock`` and holds an exclusive ``flock`` on it while it writes. The kernel
drops the lock when the process ends, however it ends (a crash, ``kill -9``), so a lock file
that can be locked belongs to a dead owner, and only then are that owner's temporary files
(:func:`seqsim.store.files.temporary_path`) removed. Nothing else in or around the store is
ever deleted.

``flock`` works on local filesystems and on NFSv4 (Linux maps it to NFS byte-range locks).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .files import StoreError, StoreWriteError, make_folder, temporary_owner

WRITERS = "writers"


class StoreBusyError(StoreError):
    """Another living process holds a lock this one needs."""


def _try_lock(descriptor: int, mode: int) -> bool:
    try:
        fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    return True


def _new_owner_name() -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


@contextmanager
def owner(store: Path) -> Iterator[str]:
    """Become a writer of ``store`` for the duration of the block; yields the owner name."""
    folder = store / WRITERS
    make_folder(folder)
    while True:
        name = _new_owner_name()
        path = folder / f"{name}.lock"
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as error:
            raise StoreWriteError(f"{path}: cannot write: {error.strerror}") from None
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        # A cleaner may have taken the file for a dead owner's between creation and locking.
        if os.fstat(descriptor).st_ino == _inode(path):
            break
        os.close(descriptor)
    try:
        yield name
    finally:
        path.unlink(missing_ok=True)
        os.close(descriptor)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


@contextmanager
def _if_dead(store: Path, name: str) -> Iterator[bool]:
    """Whether owner ``name`` is dead; while the block runs, no one can claim its lock file."""
    path = store / WRITERS / f"{name}.lock"
    try:
        descriptor = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield True  # an owner removes its temporary files before its lock file
        return
    try:
        dead = _try_lock(descriptor, fcntl.LOCK_EX)
        yield dead
        if dead:
            path.unlink(missing_ok=True)
    finally:
        os.close(descriptor)


def remove_dead_owners_files(store: Path, folders: list[Path]) -> list[Path]:
    """Remove the temporary files in ``folders`` whose owners are dead, and those owners' lock
    files; return the files removed. Files not named as ours are never touched."""
    by_owner: dict[str, list[Path]] = {}
    for folder in folders:
        if folder.is_dir():
            for path in folder.iterdir():
                name = temporary_owner(path)
                if name is not None:
                    by_owner.setdefault(name, []).append(path)
    writers = store / WRITERS
    if writers.is_dir():
        for lock in writers.glob("*.lock"):
            by_owner.setdefault(lock.stem, [])
    removed = []
    for name, paths in by_owner.items():
        with _if_dead(store, name) as dead:
            if dead:
                for path in paths:
                    path.unlink(missing_ok=True)
                removed += paths
    return removed


@contextmanager
def exclusive(path: Path, purpose: str) -> Iterator[None]:
    """Hold ``path`` exclusively, or raise :class:`StoreBusyError` naming the process that
    holds it (its pid, host and start time are written into the file)."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise StoreWriteError(f"{path}: cannot write: {error.strerror}") from None
    try:
        if not _try_lock(descriptor, fcntl.LOCK_EX):
            holder = _describe_holder(descriptor)
            raise StoreBusyError(
                f"{path.parent} is in use by another {purpose}{holder}; wait for it to finish, "
                "or use another store directory"
            )
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(record).encode(), 0)
        yield
    finally:
        os.close(descriptor)


def _describe_holder(descriptor: int) -> str:
    try:
        record = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["since"]))
        return f" (pid {record['pid']} on {record['host']}, since {since})"
    except (ValueError, KeyError, TypeError):
        return ""


@contextmanager
def shared_or_exclusive(path: Path, exclusive_lock: bool) -> Iterator[None]:
    """Wait for a shared (readers) or exclusive (consolidation) lock on ``path``. A store on a
    read-only filesystem without the lock file is read unlocked: no one can write it anyway."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        if exclusive_lock:
            raise StoreWriteError(f"{path}: cannot write: {error.strerror}") from None
        if not path.exists():
            yield
            return
        descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive_lock else fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)
