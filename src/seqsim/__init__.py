"""seqsim: speech-to-speech retrieval on the encoder frames of speech foundation models.

Every public name is imported on first use (``from seqsim import SeqSim`` loads the metrics,
and torch with them), so that ``import seqsim`` and the ``seqsim`` command's help stay fast.
"""

import importlib
import os
from typing import TYPE_CHECKING, Any

# Before torch loads libgomp (its OpenMP runtime, which numba's kernels share): threads that
# spin after each parallel region take the cores from the OpenBLAS GEMM that follows, and a
# search alternates the two (30 % more queries/s without spinning; extraction and all-pairs
# scoring lose nothing; docs/performance.md). Set it yourself where torch is imported first.
os.environ.setdefault("GOMP_SPINCOUNT", "0")

from ._version import __version__  # noqa: E402

if TYPE_CHECKING:
    from .backends import Backend, resolve_backend
    from .encoders import (
        Embedding,
        SpeechEncoder,
        WhisperEmbedder,
        available_encoders,
        load_encoder,
        register_encoder,
    )
    from .metrics import (
        AvgSim,
        DTWSim,
        Metric,
        OTSim,
        SeqSim,
        SeqSimScores,
        available_metrics,
        get_metric,
        matrix_chunked,
        register_metric,
    )
    from .metrics.ot import SinkhornConvergenceWarning
    from .mining import mine
    from .recipes import prepare_fleurs, prepare_mass, write_manifest
    from .sequences import PackedSequences
    from .store import EmbeddingStore

_LAZY = {
    "AvgSim": "metrics",
    "Backend": "backends",
    "DTWSim": "metrics",
    "Embedding": "encoders",
    "EmbeddingStore": "store",
    "Metric": "metrics",
    "OTSim": "metrics",
    "PackedSequences": "sequences",
    "SeqSim": "metrics",
    "SeqSimScores": "metrics",
    "SinkhornConvergenceWarning": "metrics.ot",
    "SpeechEncoder": "encoders",
    "WhisperEmbedder": "encoders",
    "available_encoders": "encoders",
    "available_metrics": "metrics",
    "get_metric": "metrics",
    "load_encoder": "encoders",
    "mine": "mining",
    "matrix_chunked": "metrics",
    "pair_similarity": "pair",
    "plot_pair": "pair",
    "prepare_fleurs": "recipes",
    "prepare_mass": "recipes",
    "register_encoder": "encoders",
    "register_metric": "metrics",
    "resolve_backend": "backends",
    "write_manifest": "recipes",
}


def __getattr__(name: str) -> Any:
    """Import the module of a public name (the metrics and torch, the Whisper-facing parts and
    transformers, the recipes) when the name is first used."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'seqsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "SpeechEncoder",
    "WhisperEmbedder",
    "__version__",
    "available_encoders",
    "available_metrics",
    "get_metric",
    "load_encoder",
    "matrix_chunked",
    "mine",
    "prepare_fleurs",
    "prepare_mass",
    "register_encoder",
    "register_metric",
    "resolve_backend",
    "write_manifest",
]
