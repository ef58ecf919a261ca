"""Block kernels per backend, and the one place that decides which of them runs.

``numba_kernels`` (CPU), ``torch_kernels`` (CPU or CUDA) and ``triton_kernels`` (CUDA, or
Triton's CPU interpreter) each score one block pair of packed sequences. A metric declares its
scorers once, as a :class:`BlockKernels` (one per set of its options where they change the
kernel); :func:`choose_kernel` picks the one a backend runs and how blocks are prepared for it,
and :func:`blockwise_scores` runs it over every block pair within the working memory:

=========  ============================================  =================================
backend    scorer that runs                              prepared blocks
=========  ============================================  =================================
numba      ``numba``                                     numpy arrays on the CPU
torch      ``torch``; ``numba`` where there is none      tensors on the backend's device
triton     ``triton``; else ``torch``; else ``numba``    tensors on the backend's device
=========  ============================================  =================================

A ``numba`` scorer is required, so every metric runs on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
import torch

from ..backends import Backend, resolve_backend
from ..blocks import score_all_pairs
from ..sequences import HALF_DTYPES, PackedSequences
from .numba_kernels import unit_mean_numpy_block, unit_numpy_block
from .torch_kernels import unit_mean_tensor_block, unit_tensor_block

BlockScorer = Callable[[PackedSequences, PackedSequences], np.ndarray]
"""Scores a prepared (query block, candidate block) pair: float64 numpy (kinds, Qb, Rb)."""
KernelName = Literal["numba", "torch", "triton"]
Preparation = Literal["unit_frames", "unit_mean"]

_NUMPY_PREPARATION = {"unit_frames": unit_numpy_block, "unit_mean": unit_mean_numpy_block}
_TENSOR_PREPARATION = {"unit_frames": unit_tensor_block, "unit_mean": unit_mean_tensor_block}


@dataclass(frozen=True)
class BlockKernels:
    """A metric's block scorers, one per backend, and what the block driver needs to run them.

    Each scorer takes a prepared (query block, candidate block) pair of
    :class:`~seqsim.sequences.PackedSequences` and returns float64 numpy scores
    (kinds, Qb, Rb). Which one runs on a backend is decided by :func:`choose_kernel` (see the
    module table).

    Parameters
    ----------
    numba : callable
        Scores float32 numpy blocks; required, and the fallback of a backend that has no
        scorer of its own (a CPU-only algorithm), so every metric runs on every backend.
    torch : callable, optional
        Scores tensors on the backend's device.
    triton : callable, optional
        The same on the triton backend.
    kinds : int, default 1
        Score matrices each scorer returns.
    bytes_per_cell : int, default 8
        A block pair's scratch per (query frame, candidate frame) cell: it sizes the blocks.
    prepare : {"unit_frames", "unit_mean"}, default "unit_frames"
        What each sequence of a block becomes before scoring: its unit-norm frames, or
        (``"unit_mean"``, AvgSim) one frame, the unit-norm mean of its raw frames,
        accumulated in float64. AvgSim's "kernel" is thus a per-sequence reduction in the
        preparation, chosen per backend like any scorer, followed by a cosine GEMM on the
        means; means are small, so candidates are prepared once per call on every backend.

    Examples
    --------
    A toy metric, the cosine of the sequences' first frames, with a numba (CPU) scorer only:
    the torch backend falls back to it.

    >>> import numpy as np
    >>> from seqsim.kernels import BlockKernels, blockwise_scores, choose_kernel
    >>> from seqsim.sequences import PackedSequences
    >>> def first_frame_cosine(query_block, candidate_block):  # frames arrive unit-norm
    ...     queries = query_block.frames[query_block.offsets[:-1]]
    ...     candidates = candidate_block.frames[candidate_block.offsets[:-1]]
    ...     return (queries @ candidates.T)[None].astype(np.float64)  # (1, Qb, Rb)
    >>> queries = PackedSequences.from_lengths(np.array([[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]),
    ...                                        [2, 1])
    >>> candidates = PackedSequences.from_lengths(np.array([[3.0, 0.0]]), [1])
    >>> kernels = BlockKernels(numba=first_frame_cosine)
    >>> choose_kernel(kernels, "torch").kernel
    'numba'
    >>> np.round(blockwise_scores(kernels, queries, candidates, "numba"), 4).tolist()
    [[[1.0], [0.7071]]]
    """

    numba: BlockScorer
    torch: BlockScorer | None = None
    triton: BlockScorer | None = None
    kinds: int = 1
    bytes_per_cell: int = 8
    prepare: Preparation = "unit_frames"


@dataclass(frozen=True)
class KernelChoice:
    """The scorer that runs on one backend, and how blocks are prepared for it on ``device``."""

    kernel: KernelName
    scorer: BlockScorer
    prepare: Callable[[PackedSequences], PackedSequences]
    device: torch.device


def choose_kernel(kernels: BlockKernels, backend: str | Backend) -> KernelChoice:
    """The one rule for which of ``kernels`` runs on ``backend`` (see the module table)."""
    resolved = resolve_backend(backend)
    if resolved.name == "triton" and kernels.triton is not None:
        kernel: KernelName = "triton"
        scorer = kernels.triton
    elif resolved.name != "numba" and kernels.torch is not None:
        kernel, scorer = "torch", kernels.torch
    else:
        prepare = _NUMPY_PREPARATION[kernels.prepare]
        return KernelChoice("numba", kernels.numba, prepare, torch.device("cpu"))
    tensor_prepare = partial(_TENSOR_PREPARATION[kernels.prepare], device=resolved.device)
    return KernelChoice(kernel, scorer, tensor_prepare, resolved.device)


def blockwise_scores(
    kernels: BlockKernels,
    queries: PackedSequences,
    candidates: PackedSequences,
    backend: str | Backend,
    *,
    working_memory_mb: float | None = None,
    candidate_blocks: list[np.ndarray] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Scores (kinds, Q, R) of every pair, from the scorer :func:`choose_kernel` picks.

    Blocks are planned and run by :func:`~seqsim.blocks.score_all_pairs`. Candidates are
    prepared once per call, not once per query block, when they are reduced to means, or when
    they go to a CUDA device and fit in a quarter of its free memory.

    Parameters
    ----------
    kernels : BlockKernels
        The metric's scorers.
    queries, candidates : PackedSequences
        Checked sequences (see :func:`~seqsim.sequences.as_packed`).
    backend : str or Backend
        Where to run (see :func:`~seqsim.backends.resolve_backend`).
    working_memory_mb : float, optional
        Scratch allowed per block pair, in MiB; None is the backend's default (see
        :meth:`Backend.default_working_memory_mb`).
    candidate_blocks : list of numpy.ndarray, optional
        As :func:`~seqsim.blocks.score_all_pairs` takes it (a cluster worker's share of a
        plan).
    progress : bool, default False
        Show a bar counting block pairs on stderr.

    Returns
    -------
    numpy.ndarray
        float64 scores, (kernels.kinds, len(queries), len(candidates)).

    Raises
    ------
    ValueError
        For a backend :func:`~seqsim.backends.resolve_backend` rejects.

    Examples
    --------
    A toy metric, the cosine of the sequences' first frames; the blocks change nothing:

    >>> import numpy as np
    >>> from seqsim.kernels import BlockKernels, blockwise_scores
    >>> from seqsim.sequences import PackedSequences
    >>> def first_frame_cosine(query_block, candidate_block):  # frames arrive unit-norm
    ...     queries = query_block.frames[query_block.offsets[:-1]]
    ...     candidates = candidate_block.frames[candidate_block.offsets[:-1]]
    ...     return (queries @ candidates.T)[None].astype(np.float64)  # (1, Qb, Rb)
    >>> queries = PackedSequences.from_lengths(np.array([[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]),
    ...                                        [2, 1])
    >>> candidates = PackedSequences.from_lengths(np.array([[3.0, 0.0]]), [1])
    >>> kernels = BlockKernels(numba=first_frame_cosine)
    >>> scores = blockwise_scores(kernels, queries, candidates, "numba")
    >>> np.round(scores, 4).tolist()
    [[[1.0], [0.7071]]]
    >>> tiny = blockwise_scores(kernels, queries, candidates, "numba", working_memory_mb=1e-5)
    >>> bool(np.allclose(tiny, scores))
    True
    """
    resolved = resolve_backend(backend)
    choice = choose_kernel(kernels, resolved)
    if working_memory_mb is None:
        working_memory_mb = resolved.default_working_memory_mb()
    return score_all_pairs(
        queries,
        candidates,
        choice.scorer,
        prepare=choice.prepare,
        kinds=kernels.kinds,
        working_memory_mb=working_memory_mb,
        bytes_per_cell=kernels.bytes_per_cell,
        keep_prepared_candidates=kernels.prepare == "unit_mean"
        or fits_in_device_memory(candidates, choice.device),
        candidate_blocks=candidate_blocks,
        progress=progress,
    )


def fits_in_device_memory(sequences: PackedSequences, device: torch.device) -> bool:
    """Whether prepared copies of ``sequences`` fit in a quarter of the free CUDA memory."""
    if device.type != "cuda":
        return False
    itemsize = 2 if getattr(sequences.frames, "dtype", None) in HALF_DTYPES else 4
    free_bytes, _ = torch.cuda.mem_get_info(device)
    return sequences.frames.shape[0] * sequences.dim * itemsize <= free_bytes // 4
