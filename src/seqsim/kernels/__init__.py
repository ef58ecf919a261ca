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

    ``numba`` scores float32 numpy blocks and is the fallback of a backend that has no scorer
    of its own (a CPU-only algorithm); ``torch`` scores tensors on the backend's device;
    ``triton`` the same on the triton backend. Each returns ``kinds`` score matrices.
    ``bytes_per_cell`` is a block pair's scratch per (query frame, candidate frame) cell: it
    sizes the blocks. ``prepare`` is what each sequence of a block becomes before scoring:
    its unit-norm frames, or (``"unit_mean"``, AvgSim) one frame, the unit-norm mean of its raw
    frames, accumulated in float64. AvgSim's "kernel" is thus a per-sequence reduction in the
    preparation, chosen per backend like any scorer, followed by a cosine GEMM on the means;
    means are small, so candidates are prepared once per call on every backend.
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
    """Scores (kinds, Q, R) from the scorer :func:`choose_kernel` picks, within
    ``working_memory_mb`` (None: the backend's default, see
    :meth:`Backend.default_working_memory_mb`); ``candidate_blocks`` as
    :func:`~seqsim.blocks.score_all_pairs` takes it.

    Candidates are prepared once per call, not once per query block, when they are reduced to
    means, or when they go to a CUDA device and fit in a quarter of its free memory.
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
