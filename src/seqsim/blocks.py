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
    """Indices grouped by ascending length so that ``count * longest <= max_frames`` per group
    (all of them in their order when they fit in one: the common case of small calls)."""
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
    query_frames: int, candidate_frames: int, working_memory_mb: float, bytes_per_cell: int
) -> tuple[int, int]:
    """Frames per query block and per candidate block so one block pair's scratch fits.

    A block pair needs about ``query_block_frames * candidate_block_frames * bytes_per_cell``
    bytes. The query side takes the square root of the budget (less when all queries fit).
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
    """Query blocks and candidate blocks (index arrays) whose every pairing fits the budget."""
    q_budget, c_budget = frame_budgets(
        int(queries.lengths.max()) * len(queries),
        int(candidates.lengths.max()) * len(candidates),
        working_memory_mb,
        bytes_per_cell,
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

    Each selected block goes through ``prepare`` first: a candidate block once per query
    block, or once in all with ``keep_prepared_candidates`` (worth its memory when preparing
    means a copy to a GPU). ``candidate_blocks`` replaces the planned candidate side: a
    cluster worker given one query block of a plan scores it against the plan's candidate
    blocks, so that every block pair, and so every score, is the one a local call computes.
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
