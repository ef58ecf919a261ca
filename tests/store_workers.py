"""Programs that tests run as separate processes against one store (``python store_workers.py
MODE ...``): real concurrency and real ``kill -9``, which threads in the test process cannot
give. Frames are a function of the key (:func:`frames_for`), so a test can check every stored
frame against its own computation."""

from __future__ import annotations

import os
import signal
import sys
import time
import zlib

import numpy as np

SETTINGS = {"model": "synthetic", "layers": [0, 1], "dtype": "float32", "hidden_states": 2}


def frames_for(key: str, layer: int, dim: int = 8) -> np.ndarray:
    """Frames of ``key``: 1 to 12 frames whose values encode the key and the layer."""
    rng = np.random.default_rng(zlib.crc32(f"{key}|{layer}".encode()))
    return rng.standard_normal((1 + zlib.crc32(key.encode()) % 12, dim)).astype(np.float32)


def write_keys(store_path: str, first: int, last: int, pause: float) -> None:
    """Write keys ``k{first}`` .. ``k{last - 1}`` through the writer API, two per shard."""
    from seqsim.store import EmbeddingStore

    store = EmbeddingStore(store_path)
    with store.writer(SETTINGS, shard_size=2) as writer:
        for number in range(first, last):
            key = f"k{number}"
            writer.add(key, {layer: frames_for(key, layer) for layer in SETTINGS["layers"]})
            time.sleep(pause)


class DieAfter:
    """An embedder that ``kill -9``s its own process once ``count`` utterances are yielded."""

    def __init__(self, embedder, count: int) -> None:
        self.embedder, self.count = embedder, count

    def __getattr__(self, name):
        return getattr(self.embedder, name)

    def embed_iter(self, sources):
        for seen, item in enumerate(self.embedder.embed_iter(sources)):
            if seen == self.count:
                os.kill(os.getpid(), signal.SIGKILL)
            yield item


class WaitFor(DieAfter):
    """An embedder that, before its first utterance, waits until the file ``release`` exists."""

    def __init__(self, embedder, release: str) -> None:
        super().__init__(embedder, -1)
        self.release = release

    def embed_iter(self, sources):
        deadline = time.monotonic() + 120
        while not os.path.exists(self.release) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield from self.embedder.embed_iter(sources)


def embed(store_path: str, model: str, manifest: str, wrap, **options) -> None:
    """Embed a manifest's layer 1 into a store, one utterance per batch, through ``wrap``."""
    from seqsim import EmbeddingStore, WhisperEmbedder, embed_runs
    from seqsim.corpus import read_manifest

    embedder = WhisperEmbedder(model, layers=[1], batch_size=1, progress=False)
    items = read_manifest(manifest).audio_items()
    embed_runs.embed(EmbeddingStore(store_path), items, wrap(embedder), **options)


if __name__ == "__main__":
    mode, *arguments = sys.argv[1:]
    if mode == "write":
        write_keys(arguments[0], int(arguments[1]), int(arguments[2]), float(arguments[3]))
    elif mode == "embed-and-die":  # STORE MODEL MANIFEST COUNT SHARD_SIZE FLUSH_SECONDS
        count, shard_size, flush_seconds = int(arguments[3]), int(arguments[4]), arguments[5]
        embed(
            *arguments[:3],
            lambda embedder: DieAfter(embedder, count),
            shard_size=shard_size,
            flush_seconds=float(flush_seconds),
        )
    elif mode == "embed-when-released":  # STORE MODEL MANIFEST RELEASE_FILE
        embed(*arguments[:3], lambda embedder: WaitFor(embedder, arguments[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
