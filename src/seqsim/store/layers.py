"""The consolidated layer files: every utterance's frames of one layer, back to back.

A layer file ``layer_K.npy`` is a standard ``.npy`` file, written by a consolidation as a
stream (no memory map, so a full disk is an error, never a crash) together with the CRC-32 of
all its bytes, which ``index.json`` records. Reading maps it (:func:`open_layer`) after
checking its header against ``index.json`` and, the first time this process maps that file,
its CRC-32: a damaged file is a :class:`StoreCorruptError` naming it, never frames with other
numbers. The check reads the file once, at zlib's CRC-32 speed (about 2.4 GB/s on one core):
on the 2-core CI machine, loading a 1.5 GB layer file (10,000 utterances) and reading every
frame takes 2.7 s with it, 2.2 s without (warm page cache;
``benchmarks/test_store_checksum_speed.py``), so it stays on by default.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..sequences import MappedFile
from .files import StoreError, open_own_file, write_atomically
from .shards import CorruptShardError, ShardContents, npy_header, read_layer

CHECKSUM_BLOCK_BYTES = 16 * 2**20
"""Bytes read at a time to checksum a layer file."""

VERIFIED_FILES: set[tuple[int, int, int, int, int]] = set()
"""The layer files whose CRC-32 this process has checked: (device, inode, size, modification
time in ns, CRC-32). A file is checked again when any of them differs."""


class StoreCorruptError(StoreError):
    """A consolidated store file (a layer file, ``index.json``) that is damaged.

    The message names the file, what is wrong and how to rebuild it.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    problem : str
        What is wrong with it.
    advice : str
        How to rebuild it.

    Attributes
    ----------
    path, problem
        As given.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.store import StoreCorruptError
    >>> print(StoreCorruptError(Path("store/layer_6.npy"),
    ...                         "checksum 0x0000002a != recorded 0x0000002b", "remove it"))
    store/layer_6.npy: damaged (checksum 0x0000002a != recorded 0x0000002b); remove it
    """

    def __init__(self, path: Path, problem: str, advice: str) -> None:
        super().__init__(f"{path}: damaged ({problem}); {advice}")
        self.path, self.problem = path, problem


class _Crc32Writer:
    """A binary file that keeps the CRC-32 of everything written to it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.crc32 = handle, 0

    def write(self, data: bytes) -> int:
        self.crc32 = zlib.crc32(data, self.crc32)
        return self.handle.write(data)


def file_crc32(handle: BinaryIO) -> int:
    """The CRC-32 of a whole file, read in blocks of :data:`CHECKSUM_BLOCK_BYTES`.

    Parameters
    ----------
    handle : BinaryIO
        An open file; read from its start, left at its end.

    Returns
    -------
    int
        ``zlib.crc32`` of all its bytes.

    Examples
    --------
    >>> import io, zlib
    >>> from seqsim.store.layers import file_crc32
    >>> file_crc32(io.BytesIO(b"frames")) == zlib.crc32(b"frames")
    True
    """
    handle.seek(0)
    buffer = memoryview(bytearray(CHECKSUM_BLOCK_BYTES))
    crc32 = 0
    while count := handle.readinto(buffer):  # type: ignore[attr-defined]
        crc32 = zlib.crc32(buffer[:count], crc32)
    return crc32


def write_layer(
    target: Path,
    owner: str,
    layer: int,
    contents: list[ShardContents],
    pieces: list[tuple[int, int]],
    dtype: np.dtype,
) -> int:
    """Stream a layer's frames from the shards to ``target`` (a ``.npy`` file), atomically.

    Consecutive rows of one shard are written as one block. The frames of the last
    :data:`SHARDS_KEPT` shards read are kept in memory, so the store's own order (keys in the
    order of their shards, a run that adds layers included) reads each shard once; a shard
    returned to after more others is read again.

    Parameters
    ----------
    target : pathlib.Path
        The layer file.
    owner : str
        The writer's owner name (its temporary file's).
    layer : int
        The layer.
    contents : list of ShardContents
        The shards, in storage order.
    pieces : list of (int, int)
        Per utterance, in the order of the file, the (shard number, row) its frames of
        ``layer`` are read from (:meth:`seqsim.store.copies.Copies.pieces`).
    dtype : numpy.dtype
        The storage dtype.

    Returns
    -------
    int
        The CRC-32 of the file written.

    Raises
    ------
    CorruptShardError
        Naming a shard that cannot be read, or whose layer has another dimension.
    StoreWriteError
        When ``target`` cannot be written.

    Examples
    --------
    >>> import tempfile, zlib
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from seqsim.store.layers import write_layer
    >>> from seqsim.store.shards import read_contents, write_shard
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     shard = Path(folder) / "a.npz"
    ...     with open(shard, "wb") as handle:
    ...         write_shard(handle, ["a", "b"], np.array([1, 2]), {6: np.ones((3, 4), np.float16)})
    ...     target = Path(folder) / "layer_6.npy"
    ...     crc32 = write_layer(target, "me", 6, [read_contents(shard)], [(0, 1)],
    ...                         np.dtype("float16"))
    ...     print(np.load(target).shape, crc32 == zlib.crc32(target.read_bytes()))
    (2, 4) True
    """
    used = sorted({number for number, _ in pieces})
    dims = {contents[number].dims.get(layer) for number in used}
    if len(dims) > 1 or None in dims:
        wanted = contents[used[0]].dims.get(layer)
        differs = next(contents[n] for n in used if contents[n].dims.get(layer) != wanted)
        raise CorruptShardError(differs.path, f"layer {layer} differs from the other shards'")
    total_frames = sum(int(contents[number].lengths[row]) for number, row in pieces)
    shape: tuple[int, int] = (total_frames, dims.pop() or 0 if dims else 0)
    crc32 = 0

    def write(handle: BinaryIO) -> None:
        nonlocal crc32
        writer = _Crc32Writer(handle)
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
        np.lib.format.write_array_header_2_0(writer, {**header, "shape": shape})
        kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for number, first, last in _blocks(pieces):
            frames, offsets = _shard_frames(kept, contents[number], number, layer)
            block = frames[offsets[first] : offsets[last + 1]]
            writer.write(np.ascontiguousarray(block, dtype=dtype).tobytes())
        crc32 = writer.crc32

    write_atomically(target, owner, write, needed=shape[0] * shape[1] * dtype.itemsize)
    return crc32


SHARDS_KEPT = 4
"""Shards whose frames :func:`write_layer` keeps in memory at once."""


def _blocks(pieces: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Runs of consecutive rows of one shard: (shard number, first row, last row)."""
    blocks: list[tuple[int, int, int]] = []
    for number, row in pieces:
        if blocks and blocks[-1][0] == number and blocks[-1][2] == row - 1:
            blocks[-1] = (number, blocks[-1][1], row)
        else:
            blocks.append((number, row, row))
    return blocks


def _shard_frames(
    kept: dict[int, tuple[np.ndarray, np.ndarray]],
    shard: ShardContents,
    number: int,
    layer: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A shard's frames of ``layer`` and its row offsets, read unless ``kept`` has them
    (then the oldest of :data:`SHARDS_KEPT` is let go)."""
    if number not in kept:
        if len(kept) == SHARDS_KEPT:
            del kept[next(iter(kept))]
        offsets = np.concatenate([[0], np.cumsum(shard.lengths)])
        kept[number] = (read_layer(shard.path, layer), offsets)
    return kept[number]


def open_layer(
    path: Path,
    frames: int,
    dtype: np.dtype,
    crc32: int,
    advice: str,
    *,
    verify: bool = True,
) -> tuple[np.memmap, MappedFile]:
    """Memory-map a layer file, checked against what ``index.json`` records of it.

    The file is opened without following a symbolic link. Its header must describe
    ``frames`` C-ordered frames of ``dtype``, and the file must hold exactly those bytes.
    With ``verify``, its CRC-32 must be ``crc32``: checked the first time this process maps
    the file (:data:`VERIFIED_FILES`), which reads it whole once.

    Parameters
    ----------
    path : pathlib.Path
        The layer file.
    frames : int
        The frames ``index.json`` gives its utterances (the sum of their lengths).
    dtype : numpy.dtype
        The store's storage dtype.
    crc32 : int
        The CRC-32 ``index.json`` records for the file.
    advice : str
        How to rebuild the file, for the message of a damaged one.
    verify : bool, default True
        Check the CRC-32 (once per file and process). False trusts the file: damaged
        frames are then read as they are.

    Returns
    -------
    tuple of (numpy.memmap, MappedFile)
        The read-only (frames, d) array and the file it maps.

    Raises
    ------
    StoreCorruptError
        Naming the file and what is wrong: an unreadable header, a header that does not
        match ``index.json``, a file shorter or longer than its header says, a CRC-32 other
        than the one recorded.
    StoreLinkError
        When the file is a symbolic link.
    OSError
        When it cannot be opened (``FileNotFoundError`` where it is missing).

    Examples
    --------
    >>> import tempfile, zlib
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from seqsim.store.layers import open_layer
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "layer_6.npy"
    ...     np.save(path, np.ones((3, 4), np.float16))
    ...     crc32 = zlib.crc32(path.read_bytes())
    ...     frames, mapped = open_layer(path, 3, np.dtype("float16"), crc32, "remove it")
    ...     print(frames.shape, float(frames.sum()), mapped.size == path.stat().st_size)
    ...     data = bytearray(path.read_bytes())
    ...     data[-1] ^= 0x01
    ...     _ = path.write_bytes(bytes(data))
    ...     open_layer(path, 3, np.dtype("float16"), crc32, "remove it")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.store.layers.StoreCorruptError: /.../layer_6.npy: damaged (checksum 0x... != ...
    """
    with open_own_file(path) as handle:
        status = os.fstat(handle.fileno())
        offset, shape = _checked_header(path, handle, frames, dtype, status.st_size, advice)
        identity = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, crc32)
        if verify and identity not in VERIFIED_FILES:
            found = file_crc32(handle)
            if found != crc32:
                problem = f"checksum {found:#010x} != recorded {crc32:#010x}"
                raise StoreCorruptError(path, problem, advice)
            VERIFIED_FILES.add(identity)
        array = np.memmap(handle, dtype=dtype, mode="r", offset=offset, shape=shape)
    return array, MappedFile(os.path.abspath(path), status.st_ino, status.st_size)


def _checked_header(
    path: Path, handle: BinaryIO, frames: int, dtype: np.dtype, size: int, advice: str
) -> tuple[int, tuple[int, int]]:
    """The data offset and shape of a layer file whose header and size match ``index.json``."""
    try:
        shape, fortran_order, found_dtype = npy_header(handle)
    except (ValueError, EOFError) as error:
        raise StoreCorruptError(path, f"unreadable .npy header: {error}", advice) from None
    offset = handle.tell()
    if len(shape) != 2 or shape[0] != frames or shape[1] < 1 or found_dtype != dtype:
        problem = (
            f"its header claims shape {shape} of {found_dtype}, but index.json holds "
            f"{frames} frames of {dtype}"
        )
        raise StoreCorruptError(path, problem, advice)
    if fortran_order:
        raise StoreCorruptError(path, "its header claims Fortran order", advice)
    expected = offset + shape[0] * shape[1] * dtype.itemsize
    if size != expected:
        problem = f"{size} bytes, but its header claims {expected}"
        raise StoreCorruptError(path, problem, advice)
    return offset, (shape[0], shape[1])
