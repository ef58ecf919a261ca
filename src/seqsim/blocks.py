"""Bounded-memory all-pairs evaluation: split queries and candidates into blocks and stitch the
per-block scores back into full (Q, R) matrices.

Sequences are grouped by length (shortest first), so a block padded to its longest member
wastes little, and a block holds at most ``max_frames`` padded frames (one sequence longer
than that forms a block of its own). The caller chooses ``max_frames`` from its working memory.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import numpy as np

from .progress import progress_bar
from .sequences import PackedSequences

BlockScorer = Callable[[Any, Any], np.ndarray]
"""Scores one prepared block pair: returns an array (k, Qb, Rb) of k score kinds."""


def length_sorted_blocks(lengths: np.ndarray, max_frames: int) -> list[np.ndarray]:
    """Indices grouped by ascending length so that ``count * longest <= max_frames`` per group.

    When all sequences fit in one group (the common case of small calls) they stay in their
    order; otherwise they are sorted by length (stably) and cut into consecutive groups. A
    sequence longer than ``max_frames`` forms a group of its own.

    Parameters
    ----------
    lengths : numpy.ndarray
        Frames of every sequence (non-empty, 1-D).
    max_frames : int
        Padded frames allowed per group: the group's size times its longest member.

    Returns
    -------
    list of numpy.ndarray
        Index arrays into ``lengths``; together they hold every index once.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.blocks import length_sorted_blocks
    >>> length_sorted_blocks(np.array([3, 1, 2]), 9)
    [array([0, 1, 2])]
    >>> length_sorted_blocks(np.array([3, 1, 2]), 6)
    [array([1, 2]), array([0])]
    """
    if len(lengths) * int(lengths.max()) <= max_frames:
        return [np.arange(len(lengths))]
    order = np.argsort(lengths, kind="stable")
    blocks: list[np.ndarray] = []
    start = 0
    for stop in range(1, len(order) + 1):
        longest = lengths[order[stop - 1]]
        if stop - start > 1 and (stop - start) * longest > max_frames:
            blocks.append(order[start : stop - 1])
            start = stop - 1
    blocks.append(order[start:])
    return blocks


def frame_budgets(
    query_frames: int, working_memory_mb: float, bytes_per_cell: int
) -> tuple[int, int]:
    """Frames per query block and per candidate block so one block pair's scratch fits.

    A block pair needs about ``query_block_frames * candidate_block_frames * bytes_per_cell``
    bytes. The query side takes the square root of the budget (less when all queries fit), the
    candidate side the rest; each gets at least one frame. The query side never grows past the
    square root, even when the candidates need less than the rest: a cluster hands out the
    query blocks as its tasks, so larger query blocks would mean fewer tasks.

    Parameters
    ----------
    query_frames : int
        Padded frames of all queries together (the most the query side can use).
    working_memory_mb : float
        Scratch allowed per block pair, in MiB.
    bytes_per_cell : int
        Scratch per (query frame, candidate frame) cell.

    Returns
    -------
    tuple of int
        ``(query_budget, candidate_budget)`` in frames.

    Examples
    --------
    1 MiB of 8-byte cells is 131072 cells: the 100 query frames all fit in one block, and the
    candidate side gets 131072 // 100 frames.

    >>> from seqsim.blocks import frame_budgets
    >>> frame_budgets(100, working_memory_mb=1, bytes_per_cell=8)
    (100, 1310)
    """
    cells = max(1, int(working_memory_mb * 2**20) // bytes_per_cell)
    query_budget = max(1, min(query_frames, math.isqrt(cells)))
    candidate_budget = max(1, cells // query_budget)
    return query_budget, candidate_budget


def plan_blocks(
    queries: PackedSequences,
    candidates: PackedSequences,
    working_memory_mb: float,
    bytes_per_cell: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Query blocks and candidate blocks (index arrays) whose every pairing fits the budget.

    The budgets come from :func:`frame_budgets` and the blocks from
    :func:`length_sorted_blocks`.

    Parameters
    ----------
    queries, candidates : PackedSequences
        The two sides of the all-pairs computation (non-empty).
    working_memory_mb : float
        Scratch allowed per block pair, in MiB.
    bytes_per_cell : int
        Scratch per (query frame, candidate frame) cell.

    Returns
    -------
    tuple of (list of numpy.ndarray, list of numpy.ndarray)
        The query blocks and the candidate blocks.

    Examples
    --------
    A budget of 16 cells: query blocks of at most 4 padded frames, candidate blocks of 4.

    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.blocks import plan_blocks
    >>> queries = PackedSequences.from_lengths(np.ones((6, 2), np.float32), [1, 2, 3])
    >>> candidates = PackedSequences.from_lengths(np.ones((4, 2), np.float32), [2, 2])
    >>> plan_blocks(queries, candidates, working_memory_mb=1, bytes_per_cell=2**16)
    ([array([0, 1]), array([2])], [array([0, 1])])
    """
    q_budget, c_budget = frame_budgets(
        int(queries.lengths.max()) * len(queries), working_memory_mb, bytes_per_cell
    )
    return (
        length_sorted_blocks(queries.lengths, q_budget),
        length_sorted_blocks(candidates.lengths, c_budget),
    )


def score_all_pairs(
    queries: PackedSequences,
    candidates: PackedSequences,
    score_block: BlockScorer,
    *,
    prepare: Callable[[PackedSequences], Any] = lambda block: block,
    kinds: int,
    working_memory_mb: float,
    bytes_per_cell: int,
    keep_prepared_candidates: bool = False,
    candidate_blocks: list[np.ndarray] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Run ``score_block`` over all block pairs; return float64 scores of shape (kinds, Q, R).

    Blocks are planned by :func:`plan_blocks` and gathered with
    :meth:`PackedSequences.select`; the scores of each block pair land at their sequences'
    places, so the result does not depend on the blocking.

    Parameters
    ----------
    queries, candidates : PackedSequences
        The two sides (non-empty; checked by the caller, see :func:`~seqsim.sequences.as_packed`).
    score_block : callable
        ``score_block(query_block, candidate_block)`` on prepared blocks returns an array
        (kinds, Qb, Rb).
    prepare : callable, optional
        What each selected block becomes before scoring (default: the block as it is). A
        candidate block is prepared once per query block, or once in all with
        ``keep_prepared_candidates``.
    kinds : int
        Score matrices ``score_block`` returns per block pair.
    working_memory_mb : float
        Scratch allowed per block pair, in MiB.
    bytes_per_cell : int
        Scratch per (query frame, candidate frame) cell.
    keep_prepared_candidates : bool, default False
        Keep every prepared candidate block for the whole call (worth its memory when preparing
        means a copy to a GPU).
    candidate_blocks : list of numpy.ndarray, optional
        Replaces the planned candidate side: a cluster worker given one query block of a plan
        scores it against the plan's candidate blocks, so that every block pair, and so every
        score, is the one a local call computes.
    progress : bool, default False
        Show a bar counting block pairs on stderr.

    Returns
    -------
    numpy.ndarray
        float64 scores of shape (kinds, len(queries), len(candidates)).

    Examples
    --------
    A toy scorer, query length minus candidate length; one sequence per block (a budget of
    one cell) gives the same matrix as one block for all.

    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.blocks import score_all_pairs
    >>> def length_difference(query_block, candidate_block):
    ...     return (query_block.lengths[:, None] - candidate_block.lengths[None, :])[None]
    >>> queries = PackedSequences.from_lengths(np.ones((3, 2), np.float32), [1, 2])
    >>> candidates = PackedSequences.from_lengths(np.ones((4, 2), np.float32), [3, 1])
    >>> score_all_pairs(queries, candidates, length_difference, kinds=1,
    ...                 working_memory_mb=1, bytes_per_cell=8)
    array([[[-2.,  0.],
            [-1.,  1.]]])
    >>> tiny = score_all_pairs(queries, candidates, length_difference, kinds=1,
    ...                        working_memory_mb=1, bytes_per_cell=2**20)
    >>> tiny.tolist()
    [[[-2.0, 0.0], [-1.0, 1.0]]]
    """
    scores = np.empty((kinds, len(queries), len(candidates)), dtype=np.float64)
    query_blocks, planned_candidate_blocks = plan_blocks(
        queries, candidates, working_memory_mb, bytes_per_cell
    )
    if candidate_blocks is None:
        candidate_blocks = planned_candidate_blocks

    def prepare_candidates(number: int) -> Any:
        return prepare(candidates.select(candidate_blocks[number]))

    prepared_candidates = (
        functools.cache(prepare_candidates) if keep_prepared_candidates else prepare_candidates
    )
    total = len(query_blocks) * len(candidate_blocks)
    # no bar at all without progress: tqdm costs tens of µs and takes a global lock per call
    bar = progress_bar(total=total, desc="block pairs", unit="pair") if progress else None
    with bar if bar is not None else nullcontext():
        for q_index in query_blocks:
            query_block = prepare(queries.select(q_index))
            for number, c_index in enumerate(candidate_blocks):
                block = score_block(query_block, prepared_candidates(number))
                scores[:, q_index[:, None], c_index[None, :]] = block
                if bar is not None:
                    bar.update()
    return scores
