"""AvgSim: the cosine of the two sequences' mean frames (raw frames, not normalised first)."""

from __future__ import annotations

import numpy as np
import torch

from ..backends import Backend, resolve_backend
from ..sequences import PackedSequences, SequencesLike
from .base import Metric, check_run_options, pack_pair, register_metric


def sequence_means(packed: PackedSequences, backend: str | Backend = "numba") -> np.ndarray:
    """Mean frame of every sequence, float64 (N, d), accumulated in float64."""
    frames = packed.frames
    resolved = resolve_backend(backend)
    if resolved.name == "torch" or isinstance(frames, torch.Tensor):
        tensor = torch.as_tensor(frames, device=resolved.device)
        segment = torch.repeat_interleave(
            torch.arange(len(packed), device=tensor.device),
            torch.as_tensor(packed.lengths, device=tensor.device),
        )
        sums = tensor.new_zeros((len(packed), packed.dim), dtype=torch.float64)
        sums.index_add_(0, segment, tensor.double())
        return (sums / sums.new_tensor(packed.lengths)[:, None]).cpu().numpy()
    totals = np.add.reduceat(frames, packed.offsets[:-1], axis=0, dtype=np.float64)
    return totals / packed.lengths[:, None]


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def avgsim_matrix(
    queries: SequencesLike,
    candidates: SequencesLike,
    *,
    backend: str | Backend = "auto",
    working_memory: float | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Cosine of mean frames for every (query, candidate): one GEMM on the means.

    ``working_memory`` and ``progress`` are accepted for a uniform interface; the means
    need memory proportional to the number of sequences only.
    """
    resolved = check_run_options(backend, working_memory, progress)
    packed_queries, packed_candidates = pack_pair(queries, candidates)
    query_means = _unit(sequence_means(packed_queries, resolved))
    candidate_means = _unit(sequence_means(packed_candidates, resolved))
    return query_means @ candidate_means.T


@register_metric("avgsim")
class AvgSim(Metric):
    """AvgSim (cosine of mean frames); see :func:`avgsim_matrix`."""

    symmetric = True

    def matrix(self, queries: SequencesLike, candidates: SequencesLike) -> np.ndarray:
        return avgsim_matrix(queries, candidates, **self._run_options())
