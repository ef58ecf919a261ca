"""The built-in metrics (registered on import) and the registry."""

from .avgsim import AvgSim, avgsim_matrix
from .base import KernelMetric, Metric, available_metrics, get_metric, register_metric
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
    "ot_matrix",
    "register_metric",
    "seqsim_matrix",
    "seqsim_scores",
]
