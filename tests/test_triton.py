"""The Triton SeqSim kernel against the numba backend: on CUDA where present, else in Triton's
CPU interpreter (TRITON_INTERPRET=1, set by conftest.py). Small shapes: the interpreter is slow."""

import numpy as np
import pytest
import torch
from helpers import random_sequences
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsim import SeqSim

triton = pytest.importorskip("triton")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def both(queries, candidates):
    return (
        SeqSim(backend="triton", device=DEVICE).scores(queries, candidates),
        SeqSim(backend="numba").scores(queries, candidates),
    )


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_queries=st.integers(1, 4),
    n_candidates=st.integers(1, 4),
    dim=st.integers(1, 80),
    max_len=st.integers(1, 100),
)
def test_fp32_matches_numba(seed, n_queries, n_candidates, dim, max_len):
    rng = np.random.default_rng(seed)
    queries = random_sequences(rng, n_queries, dim, max_len=max_len)
    candidates = random_sequences(rng, n_candidates, dim, max_len=max_len)
    by_triton, by_numba = both(queries, candidates)
    np.testing.assert_allclose(by_triton.precision, by_numba.precision, atol=1e-4)
    np.testing.assert_allclose(by_triton.recall, by_numba.recall, atol=1e-4)


def test_whisper_large_width_splits_the_feature_dimension():
    rng = np.random.default_rng(0)
    queries = random_sequences(rng, 2, 1280, min_len=30, max_len=70)
    candidates = random_sequences(rng, 3, 1280, min_len=30, max_len=70)
    by_triton, by_numba = both(queries, candidates)
    np.testing.assert_allclose(by_triton.f1, by_numba.f1, atol=1e-4)


def test_whisper_length_sequences():
    """1500 frames (30 s of speech): many query tiles merge their column maxima atomically."""
    rng = np.random.default_rng(2)
    queries = [rng.standard_normal((1500, 96)).astype(np.float32)]
    candidates = [rng.standard_normal((1400, 96)).astype(np.float32)]
    by_triton, by_numba = both(queries, candidates)
    np.testing.assert_allclose(by_triton.precision, by_numba.precision, atol=1e-5)
    np.testing.assert_allclose(by_triton.recall, by_numba.recall, atol=1e-5)


def test_negative_cosines_are_not_hidden_by_masking():
    x = np.array([[1.0, 0.0]], dtype=np.float32)
    y = np.array([[-1.0, 0.2], [-1.0, -0.3]], dtype=np.float32)
    by_triton, by_numba = both([x, np.tile(x, (40, 1))], [y, np.tile(y, (50, 1))])
    assert (by_triton.f1 < 0).all()
    np.testing.assert_allclose(by_triton.f1, by_numba.f1, atol=1e-6)


def test_backend_needs_cuda_or_the_interpreter(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the triton backend is usable without the interpreter")
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(ValueError, match="needs a CUDA device, or TRITON_INTERPRET=1"):
        SeqSim(backend="triton")
