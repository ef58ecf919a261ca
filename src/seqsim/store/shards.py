"""One shard: a batch of finished utterances, as an uncompressed ``.npz`` (a zip of ``.npy``).

Members: ``keys`` (the keys as UTF-8 JSON, so any string round-trips exactly), ``sources`` (per
key, the identity of the audio its frames were made from, as UTF-8 JSON: see
:mod:`seqsim.provenance`; null where none was given), ``lengths`` (frames per utterance, int64)
and ``layer_K`` (every utterance's frames of layer K, back to back). Zip keeps a CRC-32 of every
member, so a truncated or damaged shard is detected on reading and reported as
:class:`CorruptShardError` naming the file. A shard is opened without following a symbolic
link (:func:`seqsim.store.files.open_own_file`): a link in the shards folder is a
:class:`~seqsim.store.StoreLinkError`, never read.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from .files import StoreError, open_own_file

SUFFIX = ".npz"


class CorruptShardError(StoreError):
    """A shard that cannot be read back; the message names it.

    Parameters
    ----------
    path : pathlib.Path
        The shard.
    problem : str
        What is wrong with it.
    advice : str, optional
        What to do about it, appended to the message.

    Attributes
    ----------
    path, problem
        As given.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.store import CorruptShardError
    >>> str(CorruptShardError(Path("store/shards/a.npz"), "BadZipFile: File is not a zip file",
    ...                       "run the embed again"))
    'store/shards/a.npz: corrupt shard (BadZipFile: File is not a zip file); run the embed again'
    """

    def __init__(self, path: Path, problem: str, advice: str = "") -> None:
        super().__init__(f"{path}: corrupt shard ({problem}){'; ' + advice if advice else ''}")
        self.path, self.problem = path, problem


def _json_member(value: object) -> np.ndarray:
    """``value`` as UTF-8 JSON bytes (uint8), a shard member."""
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), np.uint8)


def encode_keys(keys: Sequence[str]) -> np.ndarray:
    """The keys as UTF-8 JSON bytes, so that any string round-trips exactly.

    Parameters
    ----------
    keys : sequence of str
        Utterance keys.

    Returns
    -------
    numpy.ndarray
        uint8, the ``keys`` member of a shard.

    Examples
    --------
    >>> from seqsim.store.shards import encode_keys
    >>> bytes(encode_keys(["en/s01", "fr/été"])).decode("utf-8")
    '["en/s01", "fr/été"]'
    """
    return _json_member(list(keys))


def write_shard(
    handle: BinaryIO,
    keys: Sequence[str],
    lengths: np.ndarray,
    layers: Mapping[int, np.ndarray],
    sources: Sequence[Mapping[str, Any] | None] | None = None,
) -> None:
    """Write one shard (an uncompressed ``.npz``) to ``handle``.

    Parameters
    ----------
    handle : BinaryIO
        An open binary file (see :func:`seqsim.store.files.write_atomically`).
    keys : sequence of str
        The utterances' keys, in order.
    lengths : numpy.ndarray
        Frames per utterance (stored as int64).
    layers : mapping of int to numpy.ndarray
        Every utterance's frames of layer K, back to back: (sum(lengths), d) per layer, in
        the storage dtype.
    sources : sequence of mapping or None, optional
        Per key, the identity of its audio (:func:`seqsim.provenance.identify`), or None
        where it is unknown; all None by default.

    Examples
    --------
    >>> import io, zipfile
    >>> import numpy as np
    >>> from seqsim.store.shards import write_shard
    >>> buffer = io.BytesIO()
    >>> write_shard(buffer, ["en/s01"], np.array([2]), {6: np.zeros((2, 4), np.float16)})
    >>> sorted(zipfile.ZipFile(buffer).namelist())
    ['keys.npy', 'layer_6.npy', 'lengths.npy', 'sources.npy']
    """
    records = list(sources) if sources is not None else [None] * len(keys)
    if len(records) != len(keys):
        raise ValueError(f"{len(keys)} keys but {len(records)} sources")
    arrays = {
        "keys": encode_keys(keys),
        "sources": _json_member(records),
        "lengths": lengths.astype(np.int64),
    }
    arrays.update({f"layer_{layer}": frames for layer, frames in layers.items()})
    np.savez(handle, **arrays)  # type: ignore[arg-type]


def shard_bytes(lengths: np.ndarray, layers: Mapping[int, np.ndarray]) -> int:
    """About the size of a shard on disk, in bytes: the frames plus headers.

    Parameters
    ----------
    lengths : numpy.ndarray
        Frames per utterance.
    layers : mapping of int to numpy.ndarray
        The frames of every layer.

    Returns
    -------
    int
        The frames' bytes, 64 per utterance, and 4096.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.store.shards import shard_bytes
    >>> shard_bytes(np.array([2, 3]), {6: np.zeros((5, 4), np.float16)})  # 40 + 128 + 4096
    4264
    """
    return sum(frames.nbytes for frames in layers.values()) + 64 * len(lengths) + 4096


@dataclass(frozen=True)
class ShardContents:
    """What a shard holds, checked, as :func:`read_contents` returns it.

    Parameters
    ----------
    path : pathlib.Path
        The shard.
    keys : list of str
        Its utterances' keys, in order.
    lengths : numpy.ndarray
        Their frame counts (int64).
    dims : dict of int to int
        Frame dimension of every layer the shard holds.
    sources : list of dict or None, default all None
        Per key, the identity of the audio its frames were made from (None: unknown).

    Examples
    --------
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from seqsim.store.shards import ShardContents
    >>> contents = ShardContents(Path("a.npz"), ["en/s01"], np.array([3]), {6: 512})
    >>> sorted(contents.dims)
    [6]
    """

    path: Path
    keys: list[str]
    lengths: np.ndarray
    dims: dict[int, int]
    sources: list[dict[str, Any] | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.sources:
            object.__setattr__(self, "sources", [None] * len(self.keys))


_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,  # numpy headers, JSON, UTF-8
    KeyError,
)


def _read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """One ``.npy`` member, read whole (CRC-checked), pickles refused."""
    with archive.open(f"{name}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def npy_header(member: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype in a ``.npy`` header, without reading the data.

    Parameters
    ----------
    member : file-like
        Positioned at the start of a ``.npy`` file; left at the start of its data.

    Returns
    -------
    tuple of (tuple of int, bool, numpy.dtype)
        As the header says.

    Raises
    ------
    ValueError
        When the header cannot be read (not a ``.npy`` file, a damaged header).

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from seqsim.store.shards import npy_header
    >>> buffer = io.BytesIO()
    >>> np.save(buffer, np.zeros((5, 4), np.float16))
    >>> _ = buffer.seek(0)
    >>> npy_header(buffer)
    ((5, 4), False, dtype('float16'))
    """
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
    return tuple(shape), fortran_order, dtype


def read_contents(path: Path) -> ShardContents:
    """Keys and lengths of a shard, checked without reading its frames.

    Every layer member must hold as many frames as the lengths add up to, which finds a
    truncated shard without reading frames.

    Parameters
    ----------
    path : pathlib.Path
        The shard.

    Returns
    -------
    ShardContents
        Its keys, lengths and layers' dimensions.

    Raises
    ------
    CorruptShardError
        Naming the shard, when it is not a readable zip, a member is missing or damaged, a
        layer's shape does not match the lengths, or keys, lengths and layers do not match.
    StoreLinkError
        Naming the shard, when it is a symbolic link.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from seqsim.store.shards import read_contents, write_shard
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "a.npz"
    ...     with open(path, "wb") as handle:
    ...         write_shard(handle, ["en/s01", "fr/s01"], np.array([2, 3]),
    ...                     {6: np.zeros((5, 4), np.float16)})
    ...     contents = read_contents(path)
    ...     _ = path.write_bytes(path.read_bytes()[:100])  # truncated
    ...     read_contents(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.store.shards.CorruptShardError: /.../a.npz: corrupt shard (BadZipFile: ...)
    >>> contents.keys, contents.lengths, contents.dims
    (['en/s01', 'fr/s01'], array([2, 3]), {6: 4})
    """
    try:
        with open_own_file(path) as handle, zipfile.ZipFile(handle) as archive:
            keys = json.loads(_read_member(archive, "keys").tobytes().decode("utf-8"))
            sources = json.loads(_read_member(archive, "sources").tobytes().decode("utf-8"))
            lengths = _read_member(archive, "lengths")
            dims = {}
            for name in archive.namelist():
                if not name.startswith("layer_"):
                    continue
                with archive.open(name) as member:
                    shape, _, _ = npy_header(member)
                if len(shape) != 2 or shape[0] != int(lengths.sum()):
                    raise ValueError(
                        f"{name} has shape {shape}, but the lengths add up to "
                        f"{int(lengths.sum())} frames"
                    )
                dims[int(name[len("layer_") : -len(".npy")])] = shape[1]
    except _READ_ERRORS as error:
        raise CorruptShardError(path, f"{type(error).__name__}: {error}") from None
    if not isinstance(keys, list) or len(keys) != len(lengths) or not dims:
        raise CorruptShardError(path, "keys, lengths and layers do not match")
    if (
        not isinstance(sources, list)
        or len(sources) != len(keys)
        or not all(source is None or isinstance(source, dict) for source in sources)
    ):
        raise CorruptShardError(path, "its sources do not match its keys")
    return ShardContents(path, [str(key) for key in keys], lengths.astype(np.int64), dims, sources)


def read_layer(path: Path, layer: int) -> np.ndarray:
    """Every frame of ``layer`` in the shard (CRC-checked).

    Parameters
    ----------
    path : pathlib.Path
        The shard.
    layer : int
        A layer the shard holds.

    Returns
    -------
    numpy.ndarray
        (sum of lengths, d) frames in the storage dtype.

    Raises
    ------
    CorruptShardError
        Naming the shard, when it cannot be read, the layer is missing, or a CRC fails.
    StoreLinkError
        Naming the shard, when it is a symbolic link.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from seqsim.store.shards import read_layer, write_shard
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "a.npz"
    ...     with open(path, "wb") as handle:
    ...         write_shard(handle, ["en/s01"], np.array([2]), {6: np.ones((2, 4), np.float16)})
    ...     frames = read_layer(path, 6)
    >>> frames.shape, frames.dtype, float(frames.sum())
    ((2, 4), dtype('float16'), 8.0)
    """
    try:
        with open_own_file(path) as handle, zipfile.ZipFile(handle) as archive:
            return _read_member(archive, f"layer_{layer}")
    except _READ_ERRORS as error:
        raise CorruptShardError(path, f"{type(error).__name__}: {error}") from None
