"""The embedding store: encoder frames of keyed utterances on disk, resumable, safe for many
writers, memory-mapped for reading. See :mod:`seqsim.store.store` for the layout."""

from .files import StoreError, StoreFullError, StoreLinkError, StoreWriteError
from .layers import StoreCorruptError
from .locks import StoreBusyError
from .shards import CorruptShardError
from .store import (
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_SHARD_SIZE,
    AudioChangedError,
    EmbedderProducer,
    EmbeddingStore,
    EmbedReport,
    Producer,
    ShardWriter,
    StoreMismatchError,
)

__all__ = [
    "AudioChangedError",
    "DEFAULT_FLUSH_SECONDS",
    "DEFAULT_SHARD_SIZE",
    "CorruptShardError",
    "EmbedReport",
    "EmbedderProducer",
    "EmbeddingStore",
    "Producer",
    "ShardWriter",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "StoreFullError",
    "StoreLinkError",
    "StoreMismatchError",
    "StoreWriteError",
]
