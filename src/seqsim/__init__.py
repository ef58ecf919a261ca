"""seqsim: speech-to-speech retrieval on the encoder frames of speech foundation models."""

from importlib.metadata import PackageNotFoundError, version

from .backends import Backend, resolve_backend
from .metrics import (
    AvgSim,
    DTWSim,
    Metric,
    OTSim,
    SeqSim,
    SeqSimScores,
    available_metrics,
    get_metric,
    register_metric,
)
from .sequences import PackedSequences

try:
    __version__ = version("seqsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = [
    "AvgSim",
    "Backend",
    "DTWSim",
    "Metric",
    "OTSim",
    "PackedSequences",
    "SeqSim",
    "SeqSimScores",
    "__version__",
    "available_metrics",
    "get_metric",
    "register_metric",
    "resolve_backend",
]
