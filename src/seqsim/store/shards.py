"""One shard: a batch of finished utterances, as an uncompressed ``.npz`` (a zip of ``.npy``).

Members: ``keys`` (the keys as UTF-8 JSON, so any string round-trips exactly), ``lengths``
(frames per utterance, int64) and ``layer_K`` (every utterance's frames of layer K, back to
back). Zip keeps a CRC-32 of every member, so a truncated or damaged shard is detected on
reading and reported as :class:`CorruptShardError` naming the file.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from .files import StoreError

SUFFIX = ".npz"


class CorruptShardError(StoreError):
    """A shard that cannot be read back; the message names it."""

    def __init__(self, path: Path, problem: str, advice: str = "") -> None:
        super().__init__(f"{path}: corrupt shard ({problem}){'; ' + advice if advice else ''}")
        self.path, self.problem = path, problem


def encode_keys(keys: Sequence[str]) -> np.ndarray:
    return np.frombuffer(json.dumps(list(keys), ensure_ascii=False).encode("utf-8"), np.uint8)


def write_shard(
    handle: BinaryIO, keys: Sequence[str], lengths: np.ndarray, layers: Mapping[int, np.ndarray]
) -> None:
    arrays = {"keys": encode_keys(keys), "lengths": lengths.astype(np.int64)}
    arrays.update({f"layer_{layer}": frames for layer, frames in layers.items()})
    np.savez(handle, **arrays)  # type: ignore[arg-type]


def shard_bytes(lengths: np.ndarray, layers: Mapping[int, np.ndarray]) -> int:
    """About the size of a shard on disk."""
    return sum(frames.nbytes for frames in layers.values()) + 64 * len(lengths) + 4096


@dataclass(frozen=True)
class ShardContents:
    """What a shard holds, checked: its keys, their frame counts, and its layers."""

    path: Path
    keys: list[str]
    lengths: np.ndarray
    dims: dict[int, int]
    """Frame dimension of every layer the shard holds."""


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
    with archive.open(f"{name}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _member_shape(member: IO[bytes]) -> tuple[int, ...]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, _ = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _, _ = np.lib.format.read_array_header_2_0(member)
    return tuple(shape)


def read_contents(path: Path) -> ShardContents:
    """Keys and lengths of a shard, after checking that every layer member holds as many
    frames as the lengths add up to (which finds a truncated shard without reading frames)."""
    try:
        with zipfile.ZipFile(path) as archive:
            keys = json.loads(_read_member(archive, "keys").tobytes().decode("utf-8"))
            lengths = _read_member(archive, "lengths")
            dims = {}
            for name in archive.namelist():
                if not name.startswith("layer_"):
                    continue
                with archive.open(name) as member:
                    shape = _member_shape(member)
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
    return ShardContents(path, [str(key) for key in keys], lengths.astype(np.int64), dims)


def read_layer(path: Path, layer: int) -> np.ndarray:
    """Every frame of ``layer`` in the shard (CRC-checked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_member(archive, f"layer_{layer}")
    except _READ_ERRORS as error:
        raise CorruptShardError(path, f"{type(error).__name__}: {error}") from None
