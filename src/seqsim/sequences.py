"""Variable-length frame sequences, packed into one matrix, and the checks that admit them.

Every metric takes its inputs through :func:`as_packed`, so every metric rejects bad input
the same way, with a message that names the offending item.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

Frames = np.ndarray | torch.Tensor
"""One utterance: a (frames, dim) numpy array or torch tensor (float16, bfloat16 or float32)."""

_FLOAT_DTYPES_NP = (np.float16, np.float32, np.float64)
_FLOAT_DTYPES_TORCH = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
HALF_DTYPES = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class MappedFile:
    """The ``.npy`` file that memory-mapped frames come from, as it was when mapped (its inode
    and size tell it from a file written in its place since)."""

    path: str
    inode: int
    size: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> MappedFile:
        status = os.stat(path)
        return cls(os.path.abspath(path), status.st_ino, status.st_size)

    def open(self) -> np.memmap:
        """The file's frames, memory-mapped again (read-only); an error where it has changed."""
        try:
            status = os.stat(self.path)
        except OSError as error:
            raise ValueError(f"{self.path}: cannot map the frames ({error.strerror})") from None
        if (status.st_ino, status.st_size) != (self.inode, self.size):
            raise ValueError(
                f"{self.path} has been replaced since its frames were mapped (a consolidation "
                "of the store); load them again"
            )
        return np.load(self.path, mmap_mode="r")


@dataclass(frozen=True)
class PackedSequences:
    """Sequences stored back to back: ``frames[offsets[i]:offsets[i+1]]`` is sequence ``i``.

    ``frames`` keeps the caller's array (numpy, a numpy memmap or a torch tensor, any float
    dtype); metrics convert one block at a time to float32, so a float16 store on disk is
    never copied whole. ``mapped`` names the file of frames memory-mapped from a store: then
    a pickle (what Ray ships to a worker) carries that path, not the frames, and the frames
    are mapped again where it is unpickled (a filesystem every node sees).
    """

    frames: Frames
    offsets: np.ndarray
    mapped: MappedFile | None = field(default=None, compare=False)

    def __reduce__(self) -> tuple[Any, ...]:
        if self.mapped is None:
            return (PackedSequences, (self.frames, self.offsets))
        return (_mapped_sequences, (self.mapped, self.offsets))

    @classmethod
    def from_lengths(cls, frames: Frames, lengths: Sequence[int] | np.ndarray) -> PackedSequences:
        lengths = np.asarray(lengths, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(frames, offsets)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def dim(self) -> int:
        return int(self.frames.shape[1])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> Frames:
        return self.frames[self.offsets[index] : self.offsets[index + 1]]

    def subset(self, indices: np.ndarray) -> PackedSequences:
        """The sequences at ``indices``, in that order, gathered into new storage of the same
        dtype (a torch tensor stays on its device; a memmap is read into memory)."""
        lengths = self.lengths[indices]
        new_offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        rows = np.arange(new_offsets[-1]) + np.repeat(
            self.offsets[indices] - new_offsets[:-1], lengths
        )
        if isinstance(self.frames, torch.Tensor):
            return PackedSequences(
                self.frames[torch.from_numpy(rows).to(self.frames.device)], new_offsets
            )
        return PackedSequences(np.asarray(self.frames[rows]), new_offsets)

    def chunks(self, size: int) -> Iterator[tuple[int, PackedSequences]]:
        """Runs of ``size`` consecutive sequences (the last one shorter), each with the number
        of its first sequence, gathered with :meth:`subset`: a memory map is read one run at
        a time."""
        for start in range(0, len(self), size):
            yield start, self.subset(np.arange(start, min(start + size, len(self))))

    def select(self, indices: np.ndarray) -> PackedSequences:
        """Like :meth:`subset`, as contiguous frames in memory for a kernel (all sequences in
        order: no gather). float16 and bfloat16 stay as they are (kernels convert them on the
        fly: a GPU multiplies them as they are, the CPU kernels read float16 in their
        normalisation pass); any other dtype becomes float32 (no copy where it is already)."""
        in_order = len(indices) == len(self) and bool(np.all(indices == np.arange(len(self))))
        chosen = self if in_order else self.subset(indices)
        frames = chosen.frames
        if isinstance(frames, torch.Tensor):
            if frames.dtype not in HALF_DTYPES:
                frames = frames.float()
            return PackedSequences(frames.contiguous(), chosen.offsets)
        if frames.dtype == np.float16:
            return PackedSequences(np.ascontiguousarray(frames), chosen.offsets)
        return PackedSequences(to_float32_numpy(frames), chosen.offsets)


def _mapped_sequences(mapped: MappedFile, offsets: np.ndarray) -> PackedSequences:
    return PackedSequences(mapped.open(), offsets, mapped)


SequencesLike = Sequence[Frames] | PackedSequences
"""What every metric accepts: a list of (frames, dim) arrays or tensors, or PackedSequences."""


def to_float32_numpy(frames: Frames, rows: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``frames`` (all when ``rows`` is None) as a contiguous float32 numpy array."""
    if isinstance(frames, torch.Tensor):
        tensor = frames if rows is None else frames[torch.from_numpy(rows)]
        return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())
    array = frames if rows is None else frames[rows]
    return np.ascontiguousarray(array, dtype=np.float32)


def _describe_problem(item: object, dim: int | None) -> str | None:
    """Why ``item`` is not a usable sequence, or None when it is."""
    if isinstance(item, torch.Tensor):
        if item.dtype not in _FLOAT_DTYPES_TORCH:
            return f"has dtype {item.dtype}; expected a floating-point tensor"
    elif isinstance(item, np.ndarray):
        if item.dtype.type not in _FLOAT_DTYPES_NP:
            return f"has dtype {item.dtype}; expected float16, float32 or float64"
    else:
        return f"is a {type(item).__name__}; expected a numpy array or torch tensor"
    if item.ndim != 2:
        return f"has shape {tuple(item.shape)}; expected a 2-D (frames, dim) array"
    if item.shape[0] == 0:
        return "is empty (0 frames)"
    if dim is not None and item.shape[1] != dim:
        return f"has dimension {item.shape[1]} but earlier sequences have {dim}"
    return None


_FINITE_CHECK_ROWS = 1 << 16


def _check_finite(frames: Frames, offsets: np.ndarray, name: str) -> None:
    """Raise naming the first sequence with a NaN/inf; reads in chunks (memmaps stay cheap)."""
    for start in range(0, frames.shape[0], _FINITE_CHECK_ROWS):
        chunk = frames[start : start + _FINITE_CHECK_ROWS]
        if isinstance(chunk, torch.Tensor):
            bad = (~torch.isfinite(chunk).all(dim=1)).nonzero().flatten().cpu().numpy()
        else:
            bad = np.flatnonzero(~np.isfinite(chunk).all(axis=1))
        if bad.size:
            row = start + int(bad[0])
            item = int(np.searchsorted(offsets, row, side="right") - 1)
            raise ValueError(
                f"{name}[{item}] has a NaN or infinite value at frame {row - offsets[item]}"
            )


def as_packed(
    sequences: SequencesLike, name: str = "sequences", dim: int | None = None
) -> PackedSequences:
    """Validate ``sequences`` and return them packed.

    Raises ``ValueError`` naming ``name[index]`` for an empty list, an empty or non 2-D
    sequence, a non-float dtype, a dimension that differs from ``dim`` (or from the other
    sequences), or a NaN/inf frame. Tensor frames are detached: metrics are not differentiable,
    so a tensor with ``requires_grad`` is scored on its values.
    """
    if isinstance(sequences, PackedSequences):
        packed = sequences
        if len(packed) == 0:
            raise ValueError(f"{name} is empty: at least one sequence is needed")
        problem = _describe_problem(packed.frames, dim)
        if problem:
            raise ValueError(f"{name}.frames {problem}")
        empty = np.flatnonzero(packed.lengths <= 0)
        if empty.size:
            raise ValueError(f"{name}[{int(empty[0])}] is empty (0 frames)")
        if packed.offsets[0] != 0 or packed.offsets[-1] != packed.frames.shape[0]:
            raise ValueError(
                f"{name}: lengths add up to {int(packed.offsets[-1] - packed.offsets[0])} frames "
                f"but the packed matrix has {packed.frames.shape[0]}"
            )
    else:
        if isinstance(sequences, (np.ndarray, torch.Tensor)):
            raise ValueError(
                f"{name} is a single {tuple(sequences.shape)} array; pass a list of "
                "(frames, dim) sequences or a PackedSequences"
            )
        items = list(sequences)
        if not items:
            raise ValueError(f"{name} is empty: at least one sequence is needed")
        for index, item in enumerate(items):
            problem = _describe_problem(item, dim)
            if problem:
                raise ValueError(f"{name}[{index}] {problem}")
            dim = int(item.shape[1])
        packed = _pack(items)
    if isinstance(packed.frames, torch.Tensor):
        packed = PackedSequences(packed.frames.detach(), packed.offsets)
    _check_finite(packed.frames, packed.offsets, name)
    return packed


def _pack(items: list[Frames]) -> PackedSequences:
    lengths = [int(item.shape[0]) for item in items]
    tensors = [item for item in items if isinstance(item, torch.Tensor)]
    if len(tensors) == len(items):
        if len({t.device for t in tensors}) == 1 and len({t.dtype for t in tensors}) == 1:
            return PackedSequences.from_lengths(torch.cat(tensors), lengths)
    elif not tensors:
        return PackedSequences.from_lengths(np.concatenate(items), lengths)
    arrays = [to_float32_numpy(item) for item in items]
    return PackedSequences.from_lengths(np.concatenate(arrays), lengths)
