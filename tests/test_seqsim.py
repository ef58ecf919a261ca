import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import random_sequences
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_tester import HALF_DTYPES, MetricTester, case_named
from references import seqsim_reference

from seqsim import PackedSequences, SeqSim, SeqSimScores, get_metric
from seqsim.functional import seqsim_scores
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


def test_scores_are_the_three_outputs(backend_options):
    """``scores`` and ``seqsim_scores`` give in one pass what ``output`` selects (each of which
    the metric harness checks against the reference)."""
    rng = np.random.default_rng(0)
    queries = random_sequences(rng, 4, 8, max_len=12)
    candidates = random_sequences(rng, 3, 8, max_len=12)
    scores = SeqSim(**backend_options).scores(queries, candidates)
    by_function = seqsim_scores(queries, candidates, **backend_options)
    for output in SeqSimScores._fields:
        matrix = SeqSim(output, **backend_options).matrix(queries, candidates)
        np.testing.assert_allclose(getattr(scores, output), matrix, rtol=0, atol=1e-12)
        np.testing.assert_allclose(getattr(by_function, output), matrix, rtol=0, atol=1e-12)


def test_identity_swap_and_scale_invariance(backend_options):
    rng = np.random.default_rng(1)
    x, y = random_sequences(rng, 2, 16, min_len=3)
    metric = SeqSim(**backend_options)
    assert metric(x, x) == pytest.approx(1.0, abs=1e-6)
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


@pytest.mark.parametrize("dtype", HALF_DTYPES.values(), ids=HALF_DTYPES.keys())
def test_half_precision_across_kernel_tiles(backend_options, dtype):
    """The harness's half-precision check (metric_tester.py) on sequences longer than the
    Triton kernel's tiles (32 query, 64 candidate frames) and wider than its feature chunk (64),
    where the harness's own sequences are short: the reference on the frames as rounded, and
    within the documented 4 unit roundoffs of the float32 result."""
    rng = np.random.default_rng(4)
    queries = random_sequences(rng, 2, 80, min_len=60, max_len=90)
    candidates = random_sequences(rng, 2, 80, min_len=60, max_len=90)
    tester = MetricTester(case_named("seqsim-f1"), backend_options, (queries, candidates))
    tester.check_half(dtype)


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


def test_memory_mapped_float32_frames_score_on_torch_without_a_warning(tmp_path):
    """In a fresh process: torch warns about a non-writable array once per process only."""
    path = tmp_path / "frames.npy"
    np.save(path, np.arange(1, 21, dtype=np.float32).reshape(5, 4))
    script = textwrap.dedent(f"""
        import warnings
        import numpy as np
        from seqsim import PackedSequences, SeqSim
        warnings.simplefilter("error")
        mapped = PackedSequences.from_lengths(np.load({str(path)!r}, mmap_mode="r"), [2, 3])
        SeqSim(backend="torch", device="cpu").matrix(mapped, [np.ones((2, 4), np.float32)])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


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
