import numpy as np
import pytest

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
