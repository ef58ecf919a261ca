import numpy as np
import pytest
import torch
from helpers import random_sequences
from hypothesis import given, settings
from hypothesis import strategies as st
from references import seqsim_from_cosines, seqsim_reference

from seqsim import PackedSequences, SeqSim, get_metric
from seqsim.kernels.numba_kernels import unit_numpy_block


def test_hand_computed_pair(backend_options):
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    y = np.array([[2.0, 0.0]], dtype=np.float32)
    # cosines [[1], [0]]: R = (1 + 0) / 2, P = 1, F1 = 2 * 0.5 / 1.5
    scores = SeqSim(**backend_options).scores([x], [y])
    assert scores.recall[0, 0] == pytest.approx(0.5, abs=1e-6)
    assert scores.precision[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert scores.f1[0, 0] == pytest.approx(2 / 3, abs=1e-6)
    assert SeqSim(**backend_options)(x, y) == pytest.approx(2 / 3, abs=1e-6)
    assert SeqSim("recall", **backend_options)(x, y) == pytest.approx(0.5, abs=1e-6)


def test_matches_reference_formula(backend_options):
    rng = np.random.default_rng(0)
    queries = random_sequences(rng, 9, 24, max_len=30)
    candidates = random_sequences(rng, 7, 24, max_len=30)
    scores = SeqSim(**backend_options).scores(queries, candidates)
    for i, x in enumerate(queries):
        for j, y in enumerate(candidates):
            precision, recall, f1 = seqsim_reference(x, y)
            assert scores.precision[i, j] == pytest.approx(precision, abs=1e-5)
            assert scores.recall[i, j] == pytest.approx(recall, abs=1e-5)
            assert scores.f1[i, j] == pytest.approx(f1, abs=1e-5)


def test_identity_symmetry_and_scale_invariance(backend_options):
    rng = np.random.default_rng(1)
    x, y = random_sequences(rng, 2, 16, min_len=3)
    metric = SeqSim(**backend_options)
    assert metric(x, x) == pytest.approx(1.0, abs=1e-6)
    assert metric(x, y) == pytest.approx(metric(y, x), abs=1e-6)
    scales = rng.uniform(0.1, 10.0, size=(len(x), 1)).astype(np.float32)
    assert metric(x * scales, y) == pytest.approx(metric(x, y), abs=1e-5)
    forward = metric.scores([x], [y])
    backward = metric.scores([y], [x])
    assert forward.precision[0, 0] == pytest.approx(backward.recall[0, 0], abs=1e-6)


def test_padding_is_masked_even_when_all_cosines_are_negative(backend_options):
    # Zero padding would wrongly win every max here: all true cosines are negative.
    x = np.array([[1.0, 0.0]], dtype=np.float32)
    y = np.array([[-1.0, 0.2], [-1.0, -0.3]], dtype=np.float32)
    long_x = np.tile(x, (9, 1))
    long_y = np.tile(y, (6, 1))
    matrix = SeqSim(**backend_options).matrix([x, long_x], [y, long_y])
    expected = seqsim_reference(x, y)[2]
    assert expected < 0
    assert matrix[0, 0] == pytest.approx(expected, abs=1e-6)
    assert matrix[0, 1] == pytest.approx(expected, abs=1e-6)
    assert matrix[1, 0] == pytest.approx(expected, abs=1e-6)


def test_batched_equals_one_at_a_time_and_blocking_changes_nothing(backend_options):
    rng = np.random.default_rng(2)
    queries = random_sequences(rng, 12, 8, max_len=40)
    candidates = random_sequences(rng, 10, 8, max_len=40)
    metric = SeqSim(**backend_options)
    full = metric.matrix(queries, candidates)
    tiny_blocks = SeqSim(working_memory=0.001, **backend_options).matrix(queries, candidates)
    np.testing.assert_allclose(tiny_blocks, full, atol=1e-6)
    singles = np.array([[metric(x, y) for y in candidates] for x in queries])
    np.testing.assert_allclose(singles, full, atol=1e-6)


def test_packed_input_equals_list_input(backend_options):
    rng = np.random.default_rng(3)
    queries = random_sequences(rng, 5, 8)
    candidates = random_sequences(rng, 4, 8)
    packed = PackedSequences.from_lengths(np.concatenate(queries), [len(q) for q in queries])
    metric = SeqSim(**backend_options)
    np.testing.assert_allclose(
        metric.matrix(packed, candidates), metric.matrix(queries, candidates), atol=1e-7
    )


UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_tensors(backend_options, dtype):
    """numba widens half-precision inputs to float32; torch and triton normalise in float32,
    round the unit frames back to the input dtype and accumulate their products in float32.
    Either way the result is within about 4 unit roundoffs u of the float32 result: each cosine
    moves by at most 2u + u^2 (Cauchy-Schwarz), so do P and R, and F1 at most doubles that."""
    rng = np.random.default_rng(4)
    queries = [torch.from_numpy(q).to(dtype) for q in random_sequences(rng, 3, 80, max_len=90)]
    candidates = [torch.from_numpy(c).to(dtype) for c in random_sequences(rng, 3, 80, max_len=90)]
    metric = SeqSim(**backend_options)
    scores = metric.scores(queries, candidates)

    def as_computed(frames: torch.Tensor) -> np.ndarray:
        unit = torch.nn.functional.normalize(frames.float(), dim=1)
        if backend_options["backend"] != "numba":
            unit = unit.to(dtype)
        return unit.double().numpy()

    for i, x in enumerate(queries):
        for j, y in enumerate(candidates):
            expected = seqsim_from_cosines(as_computed(x) @ as_computed(y).T)
            np.testing.assert_allclose(
                [scores.precision[i, j], scores.recall[i, j], scores.f1[i, j]], expected, atol=1e-5
            )
    as_float32 = metric.matrix([q.float() for q in queries], [c.float() for c in candidates])
    assert np.abs(scores.f1 - as_float32).max() <= 4.1 * UNIT_ROUNDOFF[dtype]


def test_float16_numpy_frames_are_widened_to_float32(backend_options):
    """A memory-mapped float16 store arrives as numpy float16: every backend widens it."""
    rng = np.random.default_rng(5)
    queries = [q.astype(np.float16) for q in random_sequences(rng, 3, 16, max_len=20)]
    candidates = [c.astype(np.float16) for c in random_sequences(rng, 2, 16, max_len=20)]
    metric = SeqSim(**backend_options)
    widened = metric.matrix(
        [q.astype(np.float32) for q in queries], [c.astype(np.float32) for c in candidates]
    )
    np.testing.assert_allclose(metric.matrix(queries, candidates), widened, atol=1e-6)


def test_every_finite_float16_value_is_read_exactly():
    """The CPU kernels read float16 frames through a table of every bit pattern: each finite
    value must come out as numpy converts it (then normalised like float32 frames)."""
    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    finite = every[np.isfinite(every)]
    frames = finite[: len(finite) // 16 * 16].reshape(-1, 16)
    widened = frames.astype(np.float64)
    expected = widened / np.maximum(np.linalg.norm(widened, axis=1, keepdims=True), 1e-12)
    unit = unit_numpy_block(PackedSequences.from_lengths(frames, [len(frames)])).frames
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, expected, rtol=2e-7, atol=1e-30)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_queries=st.integers(1, 6),
    n_candidates=st.integers(1, 6),
    dim=st.integers(1, 40),
    max_len=st.integers(1, 25),
)
def test_torch_and_numba_backends_agree(seed, n_queries, n_candidates, dim, max_len):
    rng = np.random.default_rng(seed)
    queries = random_sequences(rng, n_queries, dim, max_len=max_len)
    candidates = random_sequences(rng, n_candidates, dim, max_len=max_len)
    by_numba = SeqSim(backend="numba").scores(queries, candidates)
    by_torch = SeqSim(backend="torch", device="cpu").scores(queries, candidates)
    np.testing.assert_allclose(by_numba.precision, by_torch.precision, atol=1e-5)
    np.testing.assert_allclose(by_numba.recall, by_torch.recall, atol=1e-5)
    # 2PR/(P+R) amplifies rounding where P + R is near 0 (possible with random negative
    # cosines, not with speech embeddings); compare F1 where it is well conditioned.
    conditioned = np.abs(by_numba.precision + by_numba.recall) > 0.1
    np.testing.assert_allclose(by_numba.f1[conditioned], by_torch.f1[conditioned], atol=1e-5)


def test_registry_returns_seqsim():
    assert isinstance(get_metric("SeqSim"), SeqSim)
    with pytest.raises(ValueError, match="output must be one of"):
        SeqSim("f2")
