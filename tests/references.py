"""Independent, deliberately plain reference implementations written from the formulas.

Nothing here imports seqsim: each function is the textbook definition (docs/metrics.md and the
metric modules' docstrings), one pair at a time, in float64; exact OT and Sinkhorn are POT's,
fastdtw is the fastdtw package itself (what ``method="fastdtw"`` is defined to call). Functions
named ``*_from_cosines`` take the (len(x), len(y)) matrix of frame cosines, so that a test can
feed them the cosines of frames exactly as a kernel sees them (e.g. rounded to float16).
"""

from __future__ import annotations

import numpy as np
import ot
from fastdtw import fastdtw


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


def dtw_from_cosines(
    cos: np.ndarray, normalization: str = "sum", window: int | None = None
) -> float:
    """DTWSim ``-D / Z`` on the cost ``1 - cos``: Z is 1, n + m, or the optimal path's cells."""
    total, path_cells = dtw_reference(1.0 - cos, window)
    n, m = cos.shape
    return -total / {"none": 1, "sum": n + m, "path": path_cells}[normalization]


def uniform(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def ot_exact_from_cosines(cos: np.ndarray) -> float:
    """``1 - EMD`` between uniform frame sets on the cost ``1 - cos`` (POT's network simplex)."""
    n, m = cos.shape
    return 1.0 - float(ot.emd2(uniform(n), uniform(m), 1.0 - cos))


def sinkhorn_from_cosines(cos: np.ndarray, reg: float) -> float:
    """``1 - <T, 1 - cos>`` of the entropic plan ``T`` (POT's log-domain Sinkhorn, run to a
    plan whose marginals are exact to 1e-13: the fixed point that OTSim approaches)."""
    n, m = cos.shape
    transport = ot.sinkhorn2(
        uniform(n),
        uniform(m),
        1.0 - cos,
        reg=reg,
        method="sinkhorn_log",
        numItermax=100_000,
        stopThr=1e-13,
    )
    return 1.0 - float(transport)


def fastdtw_similarity(
    unit_x: np.ndarray, unit_y: np.ndarray, normalization: str = "sum", radius: int = 1
) -> float:
    """The fastdtw package on unit frames with the cosine distance, normalised like DTWSim
    (``"path"``: by the cells of the path fastdtw returns)."""
    total, path = fastdtw(unit_x, unit_y, radius=radius, dist=lambda a, b: 1.0 - float(a @ b))
    divisor = {"none": 1, "sum": len(unit_x) + len(unit_y), "path": len(path)}[normalization]
    return -total / divisor
