"""Torch kernels (CPU or CUDA) on blocks of packed unit-norm frames.

SeqSim needs no padding: one GEMM of all query frames against all candidate frames of the
block, then segmented maxima (``scatter_reduce``) per candidate and per query. DTW and OT pad
their block to its longest member (blocks arrive sorted by length, see :mod:`seqsim.blocks`,
so padding stays small) and mask it out: infinite cost in DTW, zero mass in OT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..sequences import HALF_DTYPES, PackedSequences
from .numba_kernels import NORMALIZE_PATH, NORMALIZE_SUM


def frames_tensor(block: PackedSequences, device: torch.device) -> torch.Tensor:
    """A block's frames as a tensor on ``device``, in their own dtype. A read-only numpy array
    (a store's memory map) is copied first: torch cannot share memory it may not write.

    Parameters
    ----------
    block : PackedSequences
        Packed frames, numpy arrays or tensors.
    device : torch.device
        Where the tensor lives.

    Returns
    -------
    torch.Tensor
        The (total_frames, d) frames.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from seqsim.kernels.torch_kernels import frames_tensor
    >>> from seqsim.sequences import PackedSequences
    >>> frames = np.ones((2, 3), np.float32)
    >>> frames.flags.writeable = False
    >>> block = PackedSequences.from_lengths(frames, [2])
    >>> frames_tensor(block, torch.device("cpu")).shape
    torch.Size([2, 3])
    """
    frames = block.frames
    if isinstance(frames, np.ndarray) and not frames.flags.writeable:
        frames = np.array(frames)
    return torch.as_tensor(frames, device=device)


def unit_tensor_block(block: PackedSequences, device: torch.device) -> PackedSequences:
    """A block from :meth:`PackedSequences.select` (float32, or float16/bfloat16 tensors) as
    unit-norm, contiguous frames on ``device`` in the same dtype, normalised in float32.
    float16 numpy frames (a store's) travel as they are and become float32 there.

    Parameters
    ----------
    block : PackedSequences
        Packed frames, numpy arrays or tensors.
    device : torch.device
        Where the frames go.

    Returns
    -------
    PackedSequences
        Unit-norm tensor frames on ``device`` (float32 for numpy frames), the same offsets.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from seqsim.kernels.torch_kernels import unit_tensor_block
    >>> from seqsim.sequences import PackedSequences
    >>> block = PackedSequences.from_lengths(np.array([[3.0, 4.0], [0.0, 2.0]]), [2])
    >>> unit_tensor_block(block, torch.device("cpu")).frames.tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 1.0]]
    """
    frames = frames_tensor(block, device)
    if isinstance(block.frames, np.ndarray):
        frames = frames.float()
    unit = torch.nn.functional.normalize(frames.float(), dim=1).to(frames.dtype).contiguous()
    return PackedSequences(unit, block.offsets)


def unit_mean_tensor_block(block: PackedSequences, device: torch.device) -> PackedSequences:
    """A block as one frame per sequence on ``device``: the unit-norm mean of its raw frames,
    accumulated in float64.

    Parameters
    ----------
    block : PackedSequences
        Packed frames, numpy arrays or tensors.
    device : torch.device
        Where the means are computed.

    Returns
    -------
    PackedSequences
        (N, d) float64 unit mean frames on ``device``, one per sequence (offsets
        ``0, 1, ..., N``).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from seqsim.kernels.torch_kernels import unit_mean_tensor_block
    >>> from seqsim.sequences import PackedSequences
    >>> frames = np.array([[4.0, 0.0], [2.0, 8.0], [0.0, 5.0]])  # means (3, 4) and (0, 5)
    >>> block = PackedSequences.from_lengths(frames, [2, 1])
    >>> unit_mean_tensor_block(block, torch.device("cpu")).frames.tolist()
    [[0.6, 0.8], [0.0, 1.0]]
    """
    frames = frames_tensor(block, device)
    segment, lengths = _segments(block, device)
    sums = frames.new_zeros((len(block), frames.shape[1]), dtype=torch.float64)
    sums.index_add_(0, segment, frames.double())
    means = torch.nn.functional.normalize(sums / lengths[:, None], dim=1)
    return PackedSequences(means, np.arange(len(block) + 1))


def _tensor(block: PackedSequences) -> torch.Tensor:
    """The frames of a prepared block (see :func:`unit_tensor_block`) as float32."""
    assert isinstance(block.frames, torch.Tensor), "prepare blocks with unit_tensor_block"
    return block.frames.float()


def _segments(block: PackedSequences, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Each frame's sequence index, and the sequence lengths, on ``device``."""
    lengths = torch.as_tensor(block.lengths, device=device)
    return torch.repeat_interleave(torch.arange(len(block), device=device), lengths), lengths


def frame_cosines(q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``q @ c.T`` in float32. On CUDA, float16/bfloat16 frames are multiplied as they are
    (tensor cores) with float32 accumulation and output; elsewhere they are widened first.

    Parameters
    ----------
    q, c : torch.Tensor
        (Tq, d) and (Tr, d) frames on one device.

    Returns
    -------
    torch.Tensor
        (Tq, Tr) float32 dot products.

    Examples
    --------
    >>> import torch
    >>> from seqsim.kernels.torch_kernels import frame_cosines
    >>> frame_cosines(torch.eye(2, dtype=torch.float16), torch.ones(1, 2, dtype=torch.float16))
    tensor([[1.],
            [1.]])
    """
    if q.is_cuda and q.dtype in HALF_DTYPES and c.dtype == q.dtype:
        return torch.mm(q, c.T, out_dtype=torch.float32)
    return q.float() @ c.float().T


def seqsim_tiles(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    """Precision and recall (2, Nq, Nc) of two prepared blocks: one GEMM, segmented maxima.

    Parameters
    ----------
    queries, candidates : PackedSequences
        Blocks prepared by :func:`unit_tensor_block`, on one device.

    Returns
    -------
    numpy.ndarray
        float64 (2, Nq, Nc): precision, then recall.

    Examples
    --------
    One query frame e0 against a candidate of frames e0 and e1: P = (1 + 0) / 2, R = 1.

    >>> import numpy as np
    >>> import torch
    >>> from seqsim.kernels.torch_kernels import seqsim_tiles, unit_tensor_block
    >>> from seqsim.sequences import PackedSequences
    >>> cpu = torch.device("cpu")
    >>> query = unit_tensor_block(PackedSequences.from_lengths(np.eye(2)[:1], [1]), cpu)
    >>> candidate = unit_tensor_block(PackedSequences.from_lengths(np.eye(2), [2]), cpu)
    >>> seqsim_tiles(query, candidate)[:, 0, 0]
    array([0.5, 1. ])
    """
    q, c = queries.frames, candidates.frames
    assert isinstance(q, torch.Tensor) and isinstance(c, torch.Tensor), "use unit_tensor_block"
    device = q.device
    q_segment, q_lengths = _segments(queries, device)
    c_segment, c_lengths = _segments(candidates, device)
    cosines = frame_cosines(q, c)
    best_per_query_frame = cosines.new_full((q.shape[0], len(candidates)), -torch.inf)
    best_per_query_frame.scatter_reduce_(1, c_segment.expand(q.shape[0], -1), cosines, "amax")
    best_per_candidate_frame = cosines.new_full((len(queries), c.shape[0]), -torch.inf)
    best_per_candidate_frame.scatter_reduce_(
        0, q_segment[:, None].expand(-1, c.shape[0]), cosines, "amax"
    )
    shape = (len(queries), len(candidates))
    recall = torch.zeros(shape, dtype=torch.float64, device=device)
    recall.index_add_(0, q_segment, best_per_query_frame.double())
    precision = torch.zeros(shape, dtype=torch.float64, device=device)
    precision.index_add_(1, c_segment, best_per_candidate_frame.double())
    recall /= q_lengths[:, None]
    precision /= c_lengths[None, :]
    return torch.stack([precision, recall]).cpu().numpy()


@dataclass(frozen=True)
class PaddedBlock:
    """Unit-norm frames padded to (N, L, d) float32 with zeros, and the sequence lengths.

    Attributes
    ----------
    frames : torch.Tensor
        (N, L, d) float32, L the longest sequence; zeros past each sequence's length.
    lengths : torch.Tensor
        (N,) the sequence lengths, on the frames' device.
    """

    frames: torch.Tensor
    lengths: torch.Tensor

    @classmethod
    def from_packed(cls, block: PackedSequences) -> PaddedBlock:
        """A block prepared by :func:`unit_tensor_block`, padded.

        Parameters
        ----------
        block : PackedSequences
            Tensor frames (:func:`unit_tensor_block`).

        Returns
        -------
        PaddedBlock
            The frames padded with zeros, on the block's device.

        Examples
        --------
        >>> import torch
        >>> from seqsim.kernels.torch_kernels import PaddedBlock
        >>> from seqsim.sequences import PackedSequences
        >>> block = PackedSequences.from_lengths(torch.eye(3, 2), [1, 2])
        >>> padded = PaddedBlock.from_packed(block)
        >>> padded.frames.tolist(), padded.lengths.tolist()
        ([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]], [1, 2])
        """
        frames = _tensor(block)
        segment, lengths = _segments(block, frames.device)
        position = torch.arange(frames.shape[0], device=frames.device)
        position -= torch.as_tensor(block.offsets[:-1], device=frames.device)[segment]
        out = frames.new_zeros(len(block), int(block.lengths.max()), frames.shape[1])
        out[segment, position] = frames
        return cls(out, lengths)


def pair_costs(
    queries: PackedSequences, candidates: PackedSequences
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cost ``1 - cos`` per pair as (Nq * Nc, Lq, Lc) float64 (padding included, to be masked
    by the caller), with each pair's two lengths.

    Parameters
    ----------
    queries, candidates : PackedSequences
        Blocks prepared by :func:`unit_tensor_block`, on one device.

    Returns
    -------
    tuple[torch.Tensor, torch.Tensor, torch.Tensor]
        The costs, pairs in query-major order (pair ``i * Nc + j``), and the query and
        candidate lengths of each pair.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from seqsim.kernels.torch_kernels import pair_costs, unit_tensor_block
    >>> from seqsim.sequences import PackedSequences
    >>> cpu = torch.device("cpu")
    >>> query = unit_tensor_block(PackedSequences.from_lengths(np.eye(2)[:1], [1]), cpu)
    >>> candidate = unit_tensor_block(PackedSequences.from_lengths(np.eye(2), [2]), cpu)
    >>> cost, query_lengths, candidate_lengths = pair_costs(query, candidate)
    >>> cost.tolist(), query_lengths.tolist(), candidate_lengths.tolist()
    ([[[0.0, 1.0]]], [1], [2])
    """
    q, c = PaddedBlock.from_packed(queries), PaddedBlock.from_packed(candidates)
    n_q, l_q, _ = q.frames.shape
    n_c, l_c, _ = c.frames.shape
    cosines = (q.frames.flatten(0, 1) @ c.frames.flatten(0, 1).T).view(n_q, l_q, n_c, l_c)
    cost = 1.0 - cosines.permute(0, 2, 1, 3).reshape(n_q * n_c, l_q, l_c).double()
    return cost, q.lengths.repeat_interleave(n_c), c.lengths.repeat(n_q)


def dtw_wavefront(
    cost: torch.Tensor, n_len: torch.Tensor, m_len: torch.Tensor, window: int, normalization: int
) -> torch.Tensor:
    """Exact DTW for a batch (B, n, m) of padded cost tiles, one anti-diagonal at a time.

    Same recursion and tie rule as the numba kernel: the diagonal predecessor wins ties,
    then (i-1, j), then (i, j-1).

    Parameters
    ----------
    cost : torch.Tensor
        (B, n, m) costs (:func:`pair_costs`); cells past a pair's lengths are never entered.
    n_len, m_len : torch.Tensor
        (B,) each pair's two lengths.
    window : int
        The Sakoe-Chiba band's radius (widened to ``|n - m|``), or -1 for no band.
    normalization : int
        ``NORMALIZE_NONE``, ``NORMALIZE_SUM`` or ``NORMALIZE_PATH`` (:func:`normalize_dtw`).

    Returns
    -------
    torch.Tensor
        (B,) the normalised costs.

    Examples
    --------
    Costs [[0, 0], [1, 1]]: the path (0, 0), (1, 1) costs 1 over 2 cells.

    >>> import torch
    >>> from seqsim.kernels.numba_kernels import NORMALIZE_PATH
    >>> from seqsim.kernels.torch_kernels import dtw_wavefront
    >>> cost = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]], dtype=torch.float64)
    >>> lengths = torch.tensor([2])
    >>> dtw_wavefront(cost, lengths, lengths, -1, NORMALIZE_PATH).tolist()
    [0.5]
    """
    batch, n, m = cost.shape
    device = cost.device
    if window >= 0:
        band = torch.maximum(torch.full_like(n_len, window), (n_len - m_len).abs())
        offset = torch.arange(n, device=device)[:, None] - torch.arange(m, device=device)[None, :]
        cost = cost.masked_fill(offset.abs()[None] > band[:, None, None], torch.inf)
    total = torch.full((batch, n + 1, m + 1), torch.inf, dtype=cost.dtype, device=device)
    total[:, 0, 0] = 0.0
    steps = torch.zeros((batch, n + 1, m + 1), dtype=torch.int64, device=device)
    for diagonal in range(n + m - 1):
        i = torch.arange(max(0, diagonal - m + 1), min(n - 1, diagonal) + 1, device=device)
        j = diagonal - i
        best, best_steps = total[:, i, j], steps[:, i, j]
        for di, dj in ((0, 1), (1, 0)):
            candidate = total[:, i + di, j + dj]
            better = candidate < best
            best = torch.where(better, candidate, best)
            best_steps = torch.where(better, steps[:, i + di, j + dj], best_steps)
        total[:, i + 1, j + 1] = best + cost[:, i, j]
        steps[:, i + 1, j + 1] = best_steps + 1
    rows = torch.arange(batch, device=device)
    return normalize_dtw(
        total[rows, n_len, m_len], steps[rows, n_len, m_len], n_len, m_len, normalization
    )


def normalize_dtw(
    total: torch.Tensor,
    steps: torch.Tensor,
    n_len: torch.Tensor,
    m_len: torch.Tensor,
    normalization: int,
) -> torch.Tensor:
    """Each pair's DTW cost divided as ``normalization`` asks: by nothing, by ``n + m`` or by
    the number of steps on the optimal path.

    Parameters
    ----------
    total : torch.Tensor
        (B,) each pair's DTW cost.
    steps : torch.Tensor
        (B,) the cells on each pair's optimal path.
    n_len, m_len : torch.Tensor
        (B,) each pair's two lengths.
    normalization : int
        ``NORMALIZE_NONE``, ``NORMALIZE_SUM`` or ``NORMALIZE_PATH``.

    Returns
    -------
    torch.Tensor
        (B,) the normalised costs.

    Examples
    --------
    >>> import torch
    >>> from seqsim.kernels.numba_kernels import NORMALIZE_SUM
    >>> from seqsim.kernels.torch_kernels import normalize_dtw
    >>> two = torch.tensor([2])
    >>> normalize_dtw(torch.tensor([1.0]), two, two, two, NORMALIZE_SUM).tolist()
    [0.25]
    """
    if normalization == NORMALIZE_SUM:
        return total / (n_len + m_len)
    if normalization == NORMALIZE_PATH:
        return total / steps
    return total


class _ScalingSinkhorn:
    """Sinkhorn scaling in float64: ``plan = diag(u) K diag(v)`` with ``K = exp(-C / reg)``."""

    def __init__(self, cost: torch.Tensor, a: torch.Tensor, b: torch.Tensor, reg: float) -> None:
        self.cost, self.a, self.b = cost.double(), a.double(), b.double()
        valid = (self.a > 0)[:, :, None] & (self.b > 0)[:, None, :]
        self.kernel = torch.exp(-self.cost / reg) * valid
        self.u, self.v = self.a.clone(), (self.b > 0).double()

    def row_sums(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Row sums of the current plan, and what the next update reuses (``K v``)."""
        kv = torch.bmm(self.kernel, self.v[:, :, None])[:, :, 0]
        return self.u * kv, kv

    def update(self, kv: torch.Tensor) -> None:
        self.u = torch.where(self.a > 0, self.a / kv, 0.0)
        ktu = torch.bmm(self.u[:, None, :], self.kernel)[:, 0, :]
        self.v = torch.where(self.b > 0, self.b / ktu, 0.0)

    def transport(self, rows: torch.Tensor) -> torch.Tensor:
        plan = self.u[rows, :, None] * self.kernel[rows] * self.v[rows, None, :]
        return (plan * self.cost[rows]).sum(dim=(1, 2))

    def keep(self, rows: torch.Tensor) -> None:
        for name in ("cost", "a", "b", "kernel", "u", "v"):
            setattr(self, name, getattr(self, name)[rows])


class _LogSinkhorn:
    """Sinkhorn on the dual potentials ``f, g`` with log-sum-exp, in float32: stable for any
    ``reg`` (no ``exp(-C/reg)`` to underflow), the form suited to GPUs."""

    def __init__(self, cost: torch.Tensor, a: torch.Tensor, b: torch.Tensor, reg: float) -> None:
        self.cost, self.reg = cost.float(), reg
        self.log_a = torch.log(a.float())  # -inf on padding
        self.log_b = torch.log(b.float())
        valid = (a > 0)[:, :, None] & (b > 0)[:, None, :]
        self.scaled = (-self.cost / reg).masked_fill(~valid, -torch.inf)
        self.f = reg * self.log_a  # the scaling kernel's u = a
        self.g = torch.where(b > 0, 0.0, -torch.inf).float()  # and v = 1

    def row_sums(self) -> tuple[torch.Tensor, torch.Tensor]:
        lse = torch.logsumexp(self.scaled + self.g[:, None, :] / self.reg, dim=2)
        return torch.exp(self.f / self.reg + lse).nan_to_num(0.0), lse

    def update(self, lse: torch.Tensor) -> None:
        self.f = torch.where(self.log_a > -torch.inf, self.reg * (self.log_a - lse), -torch.inf)
        lse_columns = torch.logsumexp(self.scaled + self.f[:, :, None] / self.reg, dim=1)
        self.g = torch.where(
            self.log_b > -torch.inf, self.reg * (self.log_b - lse_columns), -torch.inf
        )

    def transport(self, rows: torch.Tensor) -> torch.Tensor:
        potentials = (self.f[rows, :, None] + self.g[rows, None, :]) / self.reg
        plan = torch.exp(self.scaled[rows] + potentials)
        return (plan * self.cost[rows]).sum(dim=(1, 2), dtype=torch.float64)

    def keep(self, rows: torch.Tensor) -> None:
        for name in ("cost", "log_a", "log_b", "scaled", "f", "g"):
            setattr(self, name, getattr(self, name)[rows])


def sinkhorn_batched(
    cost: torch.Tensor,
    n_len: torch.Tensor,
    m_len: torch.Tensor,
    reg: float,
    max_iter: int,
    tol: float,
    log_domain: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropic OT cost ``<plan, C>`` between uniform weights for a batch (B, n, m) of padded
    costs: float64 scaling, or float32 log-domain with ``log_domain``; and whether each pair
    converged (boolean, B).

    Same iteration, stopping rule and convergence flag as the numba kernels, pair by pair (stop
    at the first plan whose row-marginal L1 error is below ``tol``, converged, else at the plan
    of ``max_iter`` updates); padding carries zero mass. Converged pairs leave the working set
    once half of it has converged, so fast pairs do not pay for slow ones.

    Parameters
    ----------
    cost : torch.Tensor
        (B, n, m) costs (:func:`pair_costs`).
    n_len, m_len : torch.Tensor
        (B,) each pair's two lengths.
    reg : float
        The entropic regularisation.
    max_iter : int
        The most updates per pair.
    tol : float
        The row-marginal L1 error to reach.
    log_domain : bool, default False
        Iterate on the dual potentials with log-sum-exp, in float32.

    Returns
    -------
    tuple[torch.Tensor, torch.Tensor]
        (B,) float64 transport costs ``<plan, C>``, and (B,) whether each pair converged.

    Examples
    --------
    Two points each, each at cost 0 from its match: nearly all mass stays in place.

    >>> import torch
    >>> from seqsim.kernels.torch_kernels import sinkhorn_batched
    >>> cost = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64)
    >>> lengths = torch.tensor([2])
    >>> transport, converged = sinkhorn_batched(cost, lengths, lengths, 0.05, 100, 1e-6)
    >>> round(transport.item(), 6), converged.tolist()
    (0.0, [True])
    """
    batch, n, m = cost.shape
    device = cost.device
    a = (torch.arange(n, device=device)[None, :] < n_len[:, None]) / n_len[:, None].double()
    b = (torch.arange(m, device=device)[None, :] < m_len[:, None]) / m_len[:, None].double()
    state = (_LogSinkhorn if log_domain else _ScalingSinkhorn)(cost, a, b, reg)
    result = torch.empty(batch, dtype=torch.float64, device=device)
    converged = torch.zeros(batch, dtype=torch.bool, device=device)
    ids = torch.arange(batch, device=device)
    alive = torch.ones(batch, dtype=torch.bool, device=device)
    for iteration in range(max_iter + 1):
        row_sums, reused = state.row_sums()
        error = (row_sums.double() - a).abs().sum(dim=1)
        reached = alive & (error < tol) if iteration > 0 else torch.zeros_like(alive)
        finished = alive if iteration == max_iter else reached
        if finished.any():
            result[ids[finished]] = state.transport(finished).double()
            converged[ids[reached]] = True
            alive &= ~finished
            if not alive.any():
                break
            if alive.sum() * 2 <= len(alive):
                state.keep(alive)
                a, reused, ids, alive = a[alive], reused[alive], ids[alive], alive[alive]
        state.update(reused)
    return result, converged
