"""seqsim: speech-to-speech retrieval on the encoder frames of speech foundation models."""

import os
from typing import TYPE_CHECKING, Any

# Before torch loads libgomp (its OpenMP runtime, which numba's kernels share): threads that
# spin after each parallel region take the cores from the OpenBLAS GEMM that follows, and a
# search alternates the two (30 % more queries/s without spinning; extraction and all-pairs
# scoring lose nothing; docs/performance.md). Set it yourself where torch is imported first.
os.environ.setdefault("GOMP_SPINCOUNT", "0")

from ._version import __version__  # noqa: E402
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
from .metrics.ot import SinkhornConvergenceWarning
from .sequences import PackedSequences

if TYPE_CHECKING:
    from .embedder import Embedding, WhisperEmbedder
    from .recipes import prepare_fleurs, prepare_mass, write_manifest
    from .store import EmbeddingStore

_LAZY = {
    "Embedding": "embedder",
    "WhisperEmbedder": "embedder",
    "EmbeddingStore": "store",
    "pair_similarity": "pair",
    "plot_pair": "pair",
    "prepare_fleurs": "recipes",
    "prepare_mass": "recipes",
    "write_manifest": "recipes",
}


def __getattr__(name: str) -> Any:
    """Import the Whisper-facing parts (and transformers) and the recipes when first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'seqsim' has no attribute {name!r}")


__all__ = [
    "AvgSim",
    "Backend",
    "DTWSim",
    "Embedding",
    "EmbeddingStore",
    "Metric",
    "OTSim",
    "PackedSequences",
    "SeqSim",
    "SeqSimScores",
    "SinkhornConvergenceWarning",
    "WhisperEmbedder",
    "__version__",
    "available_metrics",
    "get_metric",
    "prepare_fleurs",
    "prepare_mass",
    "register_metric",
    "resolve_backend",
    "write_manifest",
]
