import numpy as np
import pytest
import torch
from helpers import random_sequences
from references import avgsim_reference

from seqsim import AvgSim


def test_hand_computed_pair(backend_options):
    x = np.array([[1.0, 0.0], [1.0, 2.0]], dtype=np.float32)  # mean (1, 1)
    y = np.array([[3.0, 0.0]], dtype=np.float32)  # mean (3, 0)
    assert AvgSim(**backend_options)(x, y) == pytest.approx(1 / np.sqrt(2), abs=1e-7)


def test_uses_raw_frames_not_normalised_frames(backend_options):
    # Normalising frames first would give mean (1, 1)/... and cosine 1/sqrt(2) with y.
    x = np.array([[10.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    y = np.array([[1.0, 0.0]], dtype=np.float32)
    assert AvgSim(**backend_options)(x, y) == pytest.approx(10 / np.sqrt(101), abs=1e-7)


def test_equals_cosine_of_means(backend_options):
    rng = np.random.default_rng(5)
    queries = random_sequences(rng, 6, 12)
    candidates = random_sequences(rng, 5, 12)
    matrix = AvgSim(**backend_options).matrix(queries, candidates)
    expected = np.array([[avgsim_reference(x, y) for y in candidates] for x in queries])
    np.testing.assert_allclose(matrix, expected, atol=1e-6)


def test_torch_tensor_inputs(backend_options):
    rng = np.random.default_rng(6)
    queries = random_sequences(rng, 3, 4)
    tensors = [torch.from_numpy(q) for q in queries]
    metric = AvgSim(**backend_options)
    np.testing.assert_allclose(metric.matrix(tensors, tensors), metric.matrix(queries, queries))
