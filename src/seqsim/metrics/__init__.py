"""The built-in metrics (registered on import) and the registry.

:class:`SeqSim` (``"seqsim"``), :class:`AvgSim` (``"avgsim"``), :class:`DTWSim` (``"dtw"``) and
:class:`OTSim` (``"ot"``) derive from :class:`KernelMetric`, a :class:`Metric` scored in blocks
on every backend. Each class documents its options; :func:`get_metric` builds a registered
metric by name, and :func:`register_metric` adds one. The plain functions (``seqsim_matrix``,
...) are documented in :mod:`seqsim.functional`.

Examples
--------
Every built-in metric on a sequence against itself (DTW's cost is 0, so its similarity is -0.0):

>>> import numpy as np
>>> from seqsim.metrics import get_metric
>>> x = [np.eye(2)]
>>> names = ["seqsim", "avgsim", "dtw", "ot"]
>>> [round(float(get_metric(name, backend="numba").matrix(x, x)[0, 0]), 4) for name in names]
[1.0, 1.0, -0.0, 1.0]
"""

from .avgsim import AvgSim, avgsim_matrix
from .base import (
    KernelMetric,
    Metric,
    available_metrics,
    get_metric,
    metric_options,
    register_metric,
)
from .chunked import matrix_chunked
from .dtw import DTWSim, dtw_matrix
from .ot import OTSim, ot_matrix
from .seqsim import SeqSim, SeqSimScores, seqsim_matrix, seqsim_scores

__all__ = [
    "AvgSim",
    "DTWSim",
    "KernelMetric",
    "Metric",
    "OTSim",
    "SeqSim",
    "SeqSimScores",
    "available_metrics",
    "avgsim_matrix",
    "dtw_matrix",
    "get_metric",
    "matrix_chunked",
    "metric_options",
    "ot_matrix",
    "register_metric",
    "seqsim_matrix",
    "seqsim_scores",
]
