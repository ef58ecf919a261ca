"""The block driver: every pair scored once and put in its place, whatever the blocking, and
candidate blocks prepared once in all when asked to keep them."""

import numpy as np
import pytest
import torch
from helpers import random_sequences

from seqsim import PackedSequences, get_metric
from seqsim.backends import Backend, resolve_backend
from seqsim.blocks import frame_budgets, plan_blocks, score_all_pairs
from seqsim.kernels import fits_in_device_memory
from seqsim.sequences import as_packed


def first_frame_product(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    """A score that identifies the pair: query i's first value times candidate j's length."""
    firsts = np.array([queries[i][0, 0] for i in range(len(queries))])
    return (firsts[:, None] * candidates.lengths[None, :])[None].astype(np.float64)


@pytest.mark.parametrize("keep", [False, True])
def test_every_pair_lands_in_place_and_candidates_are_prepared_once_when_kept(keep):
    rng = np.random.default_rng(0)
    queries = as_packed(random_sequences(rng, 9, 4, max_len=30))
    candidates = as_packed(random_sequences(rng, 11, 4, max_len=30))
    prepared: list[int] = []

    def prepare(block: PackedSequences) -> PackedSequences:
        prepared.append(len(block))
        return block

    working_memory_mb = 60 * 60 * 8 / 2**20  # a few sequences per block on each side
    scores = score_all_pairs(
        queries,
        candidates,
        first_frame_product,
        prepare=prepare,
        kinds=1,
        working_memory_mb=working_memory_mb,
        bytes_per_cell=8,
        keep_prepared_candidates=keep,
    )
    expected = np.array(
        [[queries[i][0, 0] * len(candidates[j]) for j in range(11)] for i in range(9)]
    )
    np.testing.assert_allclose(scores[0], expected, rtol=1e-6)
    query_blocks, candidate_blocks = plan_blocks(queries, candidates, working_memory_mb, 8)
    assert len(query_blocks) > 1 and len(candidate_blocks) > 1
    candidate_preparations = len(candidate_blocks) * (1 if keep else len(query_blocks))
    assert len(prepared) == len(query_blocks) + candidate_preparations


def test_cpu_backends_default_to_256_mib_of_scratch():
    assert resolve_backend("numba").default_working_memory_mb() == 256
    assert resolve_backend("torch", "cpu").default_working_memory_mb() == 256


@pytest.mark.parametrize(("free_mib", "expected_mib"), [(64_000, 4096), (8_000, 2000), (512, 256)])
def test_cuda_scratch_is_a_quarter_of_free_memory_within_bounds(
    monkeypatch, free_mib, expected_mib
):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (free_mib * 2**20, 2**40))
    cuda = Backend("torch", torch.device("cuda"))
    assert cuda.default_working_memory_mb() == expected_mib


def test_candidates_are_kept_on_cuda_only_when_they_fit_in_a_quarter_of_free_memory(monkeypatch):
    frames = 1000
    candidates = PackedSequences.from_lengths(np.zeros((frames, 64), np.float32), [frames])
    half = PackedSequences.from_lengths(torch.zeros((frames, 64), dtype=torch.bfloat16), [frames])
    float32_bytes = frames * 64 * 4
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (4 * float32_bytes, 2**40))
    cuda = torch.device("cuda")
    assert fits_in_device_memory(candidates, cuda)
    assert not fits_in_device_memory(candidates, torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (4 * float32_bytes - 4, 2**40))
    assert not fits_in_device_memory(candidates, cuda)
    assert fits_in_device_memory(half, cuda)  # kept in bfloat16: half the bytes


@pytest.mark.parametrize("name", ["seqsim", "avgsim", "dtw", "ot"])
def test_a_plan_scored_one_query_block_at_a_time_is_the_whole_call_to_the_bit(name):
    """What a cluster worker does with one query block of a plan and the plan's candidate
    blocks gives exactly the rows of the local call (same block pairs, same arithmetic)."""
    rng = np.random.default_rng(5)
    queries = as_packed(random_sequences(rng, 23, 8, max_len=30))
    candidates = as_packed(random_sequences(rng, 17, 8, max_len=30))
    metric = get_metric(name, working_memory=0.005)
    query_blocks, candidate_blocks = metric.block_plan(queries, candidates)
    assert len(query_blocks) > 2 and len(candidate_blocks) > 2
    rows = np.empty((len(queries), len(candidates)))
    for block in query_blocks:
        rows[block] = metric.checked_matrix(queries.subset(block), candidates, candidate_blocks)
    np.testing.assert_array_equal(rows, metric.matrix(queries, candidates))


@pytest.mark.parametrize(
    ("query_frames", "expected"),
    [
        # 1 MiB of 8-byte cells = 131072 cells; isqrt(131072) = 362
        (100, (100, 1310)),  # all queries fit: the candidates get 131072 // 100
        (10**6, (362, 362)),  # the square root each: 362 * 362 = 131044 <= 131072
        (1, (1, 131072)),
    ],
)
def test_frame_budgets_depend_on_the_query_side_and_the_budget_only(query_frames, expected):
    """The candidate side gets the cells the query side leaves (no unused candidate argument)."""
    budgets = frame_budgets(query_frames, working_memory_mb=1, bytes_per_cell=8)
    assert budgets == expected
    assert budgets[0] * budgets[1] <= 2**20 // 8
