"""A resumable on-disk store of encoder frames for a corpus of utterances.

Layout of a store directory::

    store.json              settings: format, seqsim version, model, layers, storage dtype, dim
    shards/00000.npz ...    finished utterances, written atomically (temporary file + rename):
                            "keys" (N,) str, "lengths" (N,) int64, "layer_K" (frames, d) per layer
    failures.jsonl          utterances that failed in the last run: {"key", "source", "reason"}
    layer_K.npy             after consolidation: every utterance's frames of layer K, back to back
    index.json              after consolidation: keys and lengths in that order, and the shards used

A job killed at any moment leaves only whole shards (a half-written temporary file is removed
when the store is opened again), and a new run skips every key already in a shard. Reading
memory-maps ``layer_K.npy``: :meth:`EmbeddingStore.load` returns keys and a
:class:`~seqsim.PackedSequences` that metrics read block by block, with no copy per utterance.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .audio import AudioError, AudioInput, describe
from .embedder import Embedding, WhisperEmbedder
from .sequences import PackedSequences

FORMAT_VERSION = 1


class StoreMismatchError(ValueError):
    """The store holds embeddings made with other settings than those asked for."""


@dataclass
class EmbedReport:
    """What one :meth:`EmbeddingStore.embed` run did."""

    embedded: int = 0
    skipped: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)


def _atomic_write_text(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)


class EmbeddingStore:
    """Embeddings of keyed utterances in ``path`` (see the module documentation for the layout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.shard_dir = self.path / "shards"
        for leftover in self.path.glob("**/*.tmp"):
            leftover.unlink()

    # ------------------------------------------------------------------ settings

    @property
    def settings(self) -> dict[str, Any] | None:
        """The settings in ``store.json``, or None for a new store."""
        file = self.path / "store.json"
        return json.loads(file.read_text()) if file.is_file() else None

    def _claim(self, embedder: WhisperEmbedder, dtype: str) -> None:
        wanted = {"model": embedder.model_name, "layers": embedder.layers, "dtype": dtype}
        existing = self.settings
        if existing is None:
            self.path.mkdir(parents=True, exist_ok=True)
            self.shard_dir.mkdir(exist_ok=True)
            record = {"format": FORMAT_VERSION, "seqsim_version": __version__, **wanted}
            record["encoder_dtype"] = str(embedder.dtype)
            record["hidden_states"] = embedder.num_layers + 1
            _atomic_write_text(self.path / "store.json", json.dumps(record, indent=2))
            return
        for name, value in wanted.items():
            if existing.get(name) != value:
                raise StoreMismatchError(
                    f"{self.path} holds embeddings with {name}={existing.get(name)!r}, "
                    f"but {name}={value!r} was asked for; use another store directory"
                )

    # ------------------------------------------------------------------ writing

    def _shards(self) -> list[Path]:
        return sorted(self.shard_dir.glob("*.npz")) if self.shard_dir.is_dir() else []

    def keys(self) -> list[str]:
        """Keys of every stored utterance, in storage order."""
        keys: list[str] = []
        for shard in self._shards():
            with np.load(shard) as data:
                keys.extend(str(k) for k in data["keys"])
        return keys

    def _write_shard(
        self, batch: list[tuple[str, Embedding]], layers: list[int], dtype: str
    ) -> None:
        arrays: dict[str, np.ndarray] = {
            "keys": np.array([key for key, _ in batch]),
            "lengths": np.array([len(e.layers[layers[0]]) for _, e in batch], dtype=np.int64),
        }
        for layer in layers:
            arrays[f"layer_{layer}"] = np.concatenate(
                [e.layers[layer].numpy() for _, e in batch]
            ).astype(dtype)
        existing = self._shards()
        number = int(existing[-1].stem) + 1 if existing else 0
        with tempfile.NamedTemporaryFile(dir=self.shard_dir, delete=False, suffix=".tmp") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]
        os.replace(handle.name, self.shard_dir / f"{number:05d}.npz")

    def embed(
        self,
        utterances: Sequence[tuple[str, AudioInput]],
        embedder: WhisperEmbedder,
        *,
        dtype: str = "float16",
        shard_size: int = 64,
        fail_fast: bool = False,
    ) -> EmbedReport:
        """Embed every ``(key, audio)`` not stored yet, ``shard_size`` utterances per shard.

        Failures (missing, corrupt or silent audio, ...) are recorded in ``failures.jsonl`` and
        skipped, or raised at once with ``fail_fast``. Finished shards survive any interruption;
        an exception or Ctrl-C still writes the utterances finished so far.
        """
        if dtype not in ("float16", "float32"):
            raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
        counts = Counter(key for key, _ in utterances)
        duplicates = sorted(key for key, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"duplicate utterance keys: {duplicates[:5]}")
        self._claim(embedder, dtype)
        done = set(self.keys())
        todo = [(key, source) for key, source in utterances if key not in done]
        report = EmbedReport(skipped=len(utterances) - len(todo))
        batch: list[tuple[str, Embedding]] = []
        try:
            for index, result in embedder.embed_iter([source for _, source in todo]):
                key, source = todo[index]
                if isinstance(result, AudioError):
                    if fail_fast:
                        raise result
                    failure = {"key": key, "source": describe(source), "reason": str(result)}
                    report.failures.append(failure)
                    continue
                batch.append((key, result))
                report.embedded += 1
                if len(batch) == shard_size:
                    self._write_shard(batch, embedder.layers, dtype)
                    batch = []
        finally:
            if batch:
                self._write_shard(batch, embedder.layers, dtype)
            lines = "".join(json.dumps(failure) + "\n" for failure in report.failures)
            _atomic_write_text(self.path / "failures.jsonl", lines)
        self.consolidate()
        return report

    # ------------------------------------------------------------------ reading

    def consolidate(self) -> None:
        """Write ``layer_K.npy`` and ``index.json`` from the shards (skipped when up to date)."""
        settings = self.settings
        if settings is None:
            raise FileNotFoundError(f"{self.path} is not an embedding store (no store.json)")
        shards = [shard.name for shard in self._shards()]
        index_file = self.path / "index.json"
        if index_file.is_file() and json.loads(index_file.read_text())["shards"] == shards:
            return
        keys: list[str] = []
        lengths: list[np.ndarray] = []
        for shard in self._shards():
            with np.load(shard) as data:
                keys.extend(str(k) for k in data["keys"])
                lengths.append(data["lengths"])
        all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        for layer in settings["layers"]:
            self._consolidate_layer(layer, int(all_lengths.sum()), settings["dtype"])
        index = {"keys": keys, "lengths": all_lengths.tolist(), "shards": shards}
        _atomic_write_text(index_file, json.dumps(index))

    def _consolidate_layer(self, layer: int, total_frames: int, dtype: str) -> None:
        target = self.path / f"layer_{layer}.npy"
        temporary = target.with_suffix(".npy.tmp")
        out = None
        row = 0
        for shard in self._shards():
            with np.load(shard) as data:
                frames = data[f"layer_{layer}"]
                if out is None:
                    shape = (total_frames, frames.shape[1])
                    out = np.lib.format.open_memmap(temporary, mode="w+", dtype=dtype, shape=shape)
                out[row : row + len(frames)] = frames
                row += len(frames)
        if out is not None:
            out.flush()
            del out
            os.replace(temporary, target)

    def load(self, layer: int) -> tuple[list[str], PackedSequences]:
        """Keys and memory-mapped frames of ``layer`` (negative counts from the last hidden
        state) for every stored utterance."""
        settings = self.settings
        if settings is None:
            raise FileNotFoundError(f"{self.path} is not an embedding store (no store.json)")
        if layer < 0:
            layer += settings["hidden_states"]
        if layer not in settings["layers"]:
            raise StoreMismatchError(
                f"{self.path} holds layers {settings['layers']} of {settings['model']}, "
                f"not layer {layer}"
            )
        self.consolidate()
        index = json.loads((self.path / "index.json").read_text())
        if not index["keys"]:
            raise ValueError(f"{self.path} holds no embeddings yet")
        frames = np.load(self.path / f"layer_{layer}.npy", mmap_mode="r")
        return index["keys"], PackedSequences.from_lengths(frames, index["lengths"])
