"""Test helpers shared by several test modules."""

from __future__ import annotations

import numpy as np


def random_sequences(
    rng: np.random.Generator, count: int, dim: int, min_len: int = 1, max_len: int = 20
) -> list[np.ndarray]:
    """``count`` float32 sequences of random lengths in [min_len, max_len]."""
    return [
        rng.standard_normal((int(rng.integers(min_len, max_len + 1)), dim)).astype(np.float32)
        for _ in range(count)
    ]
