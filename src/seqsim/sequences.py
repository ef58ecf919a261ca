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
    """The ``.npy`` file that memory-mapped frames come from, as it was when mapped.

    Its inode and size tell it from a file written in its place since (a consolidation of the
    store replaces the layer files by a rename).

    Parameters
    ----------
    path : str
        The file's absolute path.
    inode : int
        Its inode number when mapped.
    size : int
        Its size in bytes when mapped.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from seqsim.sequences import MappedFile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "layer_6.npy")
    ...     np.save(path, np.ones((3, 2), np.float16))
    ...     mapped = MappedFile.of(path)
    ...     print(mapped.open().shape)
    (3, 2)
    """

    path: str
    inode: int
    size: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> MappedFile:
        """The file at ``path`` as it is now.

        Parameters
        ----------
        path : str or os.PathLike
            A ``.npy`` file (made absolute).

        Returns
        -------
        MappedFile
            Its absolute path, inode and size.

        Raises
        ------
        OSError
            When ``path`` cannot be stat'ed (``FileNotFoundError`` where it does not exist).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from seqsim.sequences import MappedFile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "frames.npy")
        ...     np.save(path, np.zeros((4, 2), np.float32))  # 128-byte header + 32 bytes
        ...     MappedFile.of(path).size
        160
        """
        status = os.stat(path)
        return cls(os.path.abspath(path), status.st_ino, status.st_size)

    def open(self) -> np.memmap:
        """The file's frames, memory-mapped again (read-only).

        Returns
        -------
        numpy.memmap
            The array in the file.

        Raises
        ------
        ValueError
            Naming the file, when it cannot be stat'ed (removed, unreadable) or has been
            replaced since it was mapped (another inode or size): load the frames again.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from seqsim.sequences import MappedFile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "layer_6.npy")
        ...     np.save(path, np.ones((3, 2), np.float16))
        ...     mapped = MappedFile.of(path)
        ...     print(np.asarray(mapped.open()).sum())
        ...     np.save(path + ".new.npy", np.ones((5, 2), np.float16))
        ...     os.replace(path + ".new.npy", path)  # a consolidation writes a new file
        ...     mapped.open()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        ValueError: /.../layer_6.npy has been replaced since its frames were mapped (...
        """
        try:
            status = os.lstat(self.path)  # a link in the file's place is another inode
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

    ``len(packed)`` is the number of sequences and ``packed[i]`` is sequence ``i`` (a view of
    ``frames``). Build one with :meth:`from_lengths`; :func:`as_packed` checks one. The object
    does not check itself.

    Parameters
    ----------
    frames : numpy.ndarray or torch.Tensor
        All frames, (total frames, dim). The caller's array is kept as it is (numpy, a numpy
        memmap or a torch tensor, any float dtype); metrics convert one block at a time to
        float32, so a float16 store on disk is never copied whole.
    offsets : numpy.ndarray
        int64, one more than the number of sequences: ``offsets[0] == 0`` and
        ``offsets[-1] == len(frames)``.
    mapped : MappedFile, optional
        The file of frames memory-mapped from a store: then a pickle (what Ray ships to a
        worker) carries that path, not the frames, and the frames are mapped again where it is
        unpickled (a filesystem every node sees; an error there if the file was replaced).
        Not part of equality.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> packed = PackedSequences(np.arange(10, dtype=np.float32).reshape(5, 2), np.array([0, 2, 5]))
    >>> len(packed), packed.dim
    (2, 2)
    >>> packed[1]
    array([[4., 5.],
           [6., 7.],
           [8., 9.]], dtype=float32)
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
        """Pack ``frames`` as consecutive sequences of ``lengths`` frames (no copy).

        Parameters
        ----------
        frames : numpy.ndarray or torch.Tensor
            All frames, (sum(lengths), dim).
        lengths : sequence of int or numpy.ndarray
            Frames of each sequence, in order.

        Returns
        -------
        PackedSequences
            ``frames`` with the offsets that ``lengths`` add up to (not checked against
            ``frames``: :func:`as_packed` does that).

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> PackedSequences.from_lengths(np.zeros((5, 2)), [2, 3]).offsets
        array([0, 2, 5])
        """
        lengths = np.asarray(lengths, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(frames, offsets)

    @property
    def lengths(self) -> np.ndarray:
        """Frames of every sequence (int64).

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> PackedSequences(np.zeros((5, 2)), np.array([0, 2, 5])).lengths
        array([2, 3])
        """
        return np.diff(self.offsets)

    @property
    def dim(self) -> int:
        """The frame dimension.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> PackedSequences.from_lengths(np.zeros((5, 3)), [2, 3]).dim
        3
        """
        return int(self.frames.shape[1])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> Frames:
        return self.frames[self.offsets[index] : self.offsets[index + 1]]

    def subset(self, indices: np.ndarray) -> PackedSequences:
        """The sequences at ``indices``, in that order, gathered into new storage.

        The dtype stays as it is; a torch tensor stays on its device, and a memmap is read into
        memory (only the rows chosen).

        Parameters
        ----------
        indices : numpy.ndarray
            Sequence numbers (integers); repeats are allowed.

        Returns
        -------
        PackedSequences
            The chosen sequences, without ``mapped``.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> packed = PackedSequences.from_lengths(np.arange(5.0)[:, None], [2, 3])
        >>> chosen = packed.subset(np.array([1, 0]))
        >>> chosen.frames.ravel(), chosen.offsets
        (array([2., 3., 4., 0., 1.]), array([0, 3, 5]))
        """
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
        """Runs of ``size`` consecutive sequences (the last one shorter), gathered one at a time.

        Each run is gathered with :meth:`subset` when it is reached, so a memory map is read
        one run at a time.

        Parameters
        ----------
        size : int
            Sequences per run (at least 1).

        Yields
        ------
        tuple of (int, PackedSequences)
            The number of the run's first sequence, and the run.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> packed = PackedSequences.from_lengths(np.zeros((6, 2)), [1, 2, 3])
        >>> [(start, run.lengths.tolist()) for start, run in packed.chunks(2)]
        [(0, [1, 2]), (2, [3])]
        """
        for start in range(0, len(self), size):
            yield start, self.subset(np.arange(start, min(start + size, len(self))))

    def select(self, indices: np.ndarray) -> PackedSequences:
        """Like :meth:`subset`, as contiguous frames in memory for a kernel.

        All sequences in their order are not gathered again. float16 and bfloat16 stay as they
        are (kernels convert them on the fly: a GPU multiplies them as they are, the CPU kernels
        read float16 in their normalisation pass); any other dtype becomes float32 (no copy
        where it is already).

        Parameters
        ----------
        indices : numpy.ndarray
            Sequence numbers (integers).

        Returns
        -------
        PackedSequences
            The chosen sequences with contiguous float16, bfloat16 or float32 frames.

        Examples
        --------
        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> packed = PackedSequences.from_lengths(np.zeros((5, 2), np.float64), [2, 3])
        >>> block = packed.select(np.array([1]))
        >>> block.frames.dtype, block.lengths
        (dtype('float32'), array([3]))
        """
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
    """Rows of ``frames`` as a contiguous float32 numpy array (no copy where it is one already).

    Parameters
    ----------
    frames : numpy.ndarray or torch.Tensor
        A (frames, dim) array or tensor (a tensor on any device, detached).
    rows : numpy.ndarray, optional
        The rows to take, in order; all rows when None.

    Returns
    -------
    numpy.ndarray
        float32, C-contiguous.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from seqsim.sequences import to_float32_numpy
    >>> to_float32_numpy(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float16), np.array([1]))
    array([[3., 4.]], dtype=float32)
    """
    if isinstance(frames, torch.Tensor):
        tensor = frames if rows is None else frames[torch.from_numpy(rows)]
        return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())
    array = frames if rows is None else frames[rows]
    return np.ascontiguousarray(array, dtype=np.float32)


def _describe_problem(item: object, dim: int | None, dim_of: str) -> str | None:
    """Why ``item`` is not a usable sequence, or None when it is; ``dim_of`` names where the
    required ``dim`` comes from."""
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
        return f"has dimension {item.shape[1]} but {dim_of} is {dim}"
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
    sequences: SequencesLike,
    name: str = "sequences",
    dim: int | None = None,
    dim_of: str = "the required dimension",
) -> PackedSequences:
    """Validate ``sequences`` and return them packed.

    Every metric takes its inputs through this function. A list of all-numpy or all-torch
    items (tensors on one device, of one dtype) keeps its dtype; a mix is packed as float32
    numpy. Tensor frames are detached: metrics are not differentiable, so a tensor with
    ``requires_grad`` is scored on its values. NaN and infinity are looked for in chunks, so a
    memory map is not read whole at once.

    Parameters
    ----------
    sequences : list of arrays or tensors, or PackedSequences
        (frames, dim) numpy arrays or torch tensors of a float dtype (float16, bfloat16,
        float32 or float64), or those already packed.
    name : str, default "sequences"
        What error messages call them (``"queries"``, ``"candidates"``, ...).
    dim : int, optional
        The frame dimension required (that of the other side); by default the first
        sequence's.
    dim_of : str, default "the required dimension"
        What error messages call ``dim`` when it is given (``"the queries' dimension"``,
        ``"the index's dimension"``, ...): ``candidates[0] has dimension 4 but the queries'
        dimension is 3``.

    Returns
    -------
    PackedSequences
        The sequences, checked.

    Raises
    ------
    ValueError
        Naming ``name[index]``, for an empty list, a single array instead of a list, an item
        that is not an array or tensor, a non-float dtype, an empty or non 2-D sequence, a
        dimension that differs from ``dim`` (named by ``dim_of``; without ``dim``, from the
        first sequence's), packed lengths
        that do not add up to the frames, or a NaN/inf frame.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.sequences import as_packed
    >>> packed = as_packed([np.ones((2, 3)), np.ones((1, 3))], "queries")
    >>> packed.offsets, packed.frames.dtype
    (array([0, 2, 3]), dtype('float64'))
    >>> as_packed([np.ones((2, 3)), np.ones(3)], "queries")
    Traceback (most recent call last):
        ...
    ValueError: queries[1] has shape (3,); expected a 2-D (frames, dim) array
    >>> as_packed([np.array([[0.0, 1.0], [np.nan, 1.0]])], "candidates")
    Traceback (most recent call last):
        ...
    ValueError: candidates[0] has a NaN or infinite value at frame 1
    >>> as_packed([np.ones((2, 4))], "candidates", dim=3, dim_of="the queries' dimension")
    Traceback (most recent call last):
        ...
    ValueError: candidates[0] has dimension 4 but the queries' dimension is 3
    """
    if isinstance(sequences, PackedSequences):
        packed = sequences
        if len(packed) == 0:
            raise ValueError(f"{name} is empty: at least one sequence is needed")
        problem = _describe_problem(packed.frames, dim, dim_of)
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
        if dim is None:  # the first item sets it
            dim_of = "the earlier sequences' dimension"
        for index, item in enumerate(items):
            problem = _describe_problem(item, dim, dim_of)
            if problem:
                raise ValueError(f"{name}[{index}] {problem}")
            dim = int(item.shape[1])
        packed = _pack(items)
    if isinstance(packed.frames, torch.Tensor):
        packed = PackedSequences(packed.frames.detach(), packed.offsets)
    _check_finite(packed.frames, packed.offsets, name)
    return packed


def _pack(items: list[Frames]) -> PackedSequences:
    """Concatenate checked items (one torch tensor where they share device and dtype)."""
    lengths = [int(item.shape[0]) for item in items]
    tensors = [item for item in items if isinstance(item, torch.Tensor)]
    if len(tensors) == len(items):
        if len({t.device for t in tensors}) == 1 and len({t.dtype for t in tensors}) == 1:
            return PackedSequences.from_lengths(torch.cat(tensors), lengths)
    elif not tensors:
        return PackedSequences.from_lengths(np.concatenate(items), lengths)
    arrays = [to_float32_numpy(item) for item in items]
    return PackedSequences.from_lengths(np.concatenate(arrays), lengths)
