"""The embedding store: encoder frames of keyed utterances on disk, resumable, safe for many
writers, memory-mapped for reading. See :mod:`seqsim.store.store` for the layout."""

from .files import StoreError, StoreFullError, StoreLinkError, StoreWriteError
from .layers import StoreCorruptError
from .locks import StoreBusyError
from .shards import CorruptShardError
from .store import (
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_SHARD_SIZE,
    EmbeddingStore,
    ShardWriter,
    StoreMismatchError,
)

__all__ = [
    "DEFAULT_FLUSH_SECONDS",
    "DEFAULT_SHARD_SIZE",
    "CorruptShardError",
    "EmbeddingStore",
    "ShardWriter",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "StoreFullError",
    "StoreLinkError",
    "StoreMismatchError",
    "StoreWriteError",
]
