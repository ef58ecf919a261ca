"""Independent, deliberately plain reference implementations written from the formulas.

Nothing here imports seqsim: each function is the textbook definition, one pair at a time.
"""

from __future__ import annotations

import numpy as np


def unit(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames, dtype=np.float64)
    return frames / np.linalg.norm(frames, axis=1, keepdims=True)


def cosine_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return unit(x) @ unit(y).T


def seqsim_reference(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) as in BERTScore: R over x's frames, P over y's frames."""
    return seqsim_from_cosines(cosine_matrix(x, y))


def seqsim_from_cosines(cos: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) from the (len(x), len(y)) matrix of frame cosines."""
    recall = cos.max(axis=1).mean()
    precision = cos.max(axis=0).mean()
    return precision, recall, 2 * precision * recall / (precision + recall)


def avgsim_reference(x: np.ndarray, y: np.ndarray) -> float:
    mx = np.asarray(x, dtype=np.float64).mean(axis=0)
    my = np.asarray(y, dtype=np.float64).mean(axis=0)
    return float(mx @ my / (np.linalg.norm(mx) * np.linalg.norm(my)))


def dtw_reference(cost: np.ndarray, window: int | None = None) -> tuple[float, int]:
    """Full-table DTW: (total cost, cells on the optimal path), ties: diagonal, up, left."""
    n, m = cost.shape
    band = max(n, m) if window is None else max(window, abs(n - m))
    total = np.full((n + 1, m + 1), np.inf)
    steps = np.zeros((n + 1, m + 1), dtype=int)
    total[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if abs(i - j) > band:
                continue
            options = [
                (total[i - 1, j - 1], steps[i - 1, j - 1]),
                (total[i - 1, j], steps[i - 1, j]),
                (total[i, j - 1], steps[i, j - 1]),
            ]
            best, best_steps = options[0]
            for value, count in options[1:]:
                if value < best:
                    best, best_steps = value, count
            total[i, j] = best + cost[i - 1, j - 1]
            steps[i, j] = best_steps + 1
    return float(total[n, m]), int(steps[n, m])
