"""A resumable on-disk store of encoder frames for keyed utterances, safe for many writers.

Layout of a store directory::

    store.json              settings: format, seqsim version, model, layers, storage dtype, ...
    shards/*.npz            finished utterances (see :mod:`seqsim.store.shards`), each named
                            <UTC time>-<owner>-<number>.npz by the writer that made it
    shards/set-aside/       shards found corrupt, moved out of the way (their keys re-embedded)
    writers/<owner>.lock    one per living writer (see :mod:`seqsim.store.locks`)
    failures.jsonl          utterances that failed in the last embed run: key, source, reason
    layer_K.npy             after consolidation: every utterance's frames of layer K
    index.json              after consolidation: keys, lengths and the shards they came from

Writers never share a file: every shard has a name of its own and appears by an atomic rename,
so any number of processes (on any hosts that see the same filesystem) can add shards at once.
A key written twice (two writers given the same utterance) is read once: the first shard in
name order wins, in :meth:`EmbeddingStore.keys` and in consolidation alike. A killed writer
loses only the utterances it had not flushed yet (``shard_size`` / ``flush_seconds``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol

import numpy as np
import torch

from .._version import __version__
from ..audio import AudioError, AudioInput, describe
from ..checks import check_choice, check_count, check_positive
from ..sequences import MappedFile, PackedSequences
from . import locks
from .files import (
    StoreError,
    StoreWriteError,
    make_folder,
    write_atomically,
    write_text_atomically,
)
from .shards import (
    SUFFIX,
    CorruptShardError,
    ShardContents,
    read_contents,
    read_layer,
    shard_bytes,
    write_shard,
)

FORMAT_VERSION = 2
IDENTITY = ("model", "layers", "dtype")
"""The settings that must match for frames to share a store."""
STORAGE_DTYPES = ("float16", "float32")
DEFAULT_SHARD_SIZE = 64
DEFAULT_FLUSH_SECONDS = 10.0
SET_ASIDE = "set-aside"

logger = logging.getLogger(__name__)


class StoreMismatchError(StoreError, ValueError):
    """The store holds embeddings made with other settings than those asked for."""


@dataclass
class EmbedReport:
    """What one :meth:`EmbeddingStore.embed` run did."""

    embedded: int = 0
    skipped: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)
    """Corrupt shards moved to ``shards/set-aside/`` (their utterances were embedded again)."""


def check_flush_policy(shard_size: int, flush_seconds: float) -> None:
    check_count("shard_size", shard_size, 1)
    check_positive("flush_seconds", flush_seconds, "number of seconds", zero=True)


class Producer(Protocol):
    """What :meth:`EmbeddingStore.embed_with` runs to make the frames of an embed run."""

    def __call__(
        self,
        store: EmbeddingStore,
        settings: Mapping[str, Any],
        todo: list[tuple[str, AudioInput]],
        report: EmbedReport,
    ) -> None:
        """Write every ``(key, audio)`` of ``todo`` into ``store`` through
        ``store.writer(settings)``; count each written one in ``report.embedded`` and record
        each that fails in ``report.failures`` (``key``, ``source``, ``reason``)."""


def failure_record(key: str, source: AudioInput, error: AudioError) -> dict[str, str]:
    """A ``failures.jsonl`` row: the key, where its audio came from, and what was wrong."""
    return {"key": key, "source": describe(source), "reason": str(error)}


@dataclass
class EmbedderProducer:
    """Embeds in this process with a :class:`~seqsim.WhisperEmbedder` (or anything with its
    ``embed_iter``), through one :class:`ShardWriter`; ``fail_fast`` raises the first
    :class:`~seqsim.audio.AudioError` instead of recording it."""

    embedder: Any
    shard_size: int = DEFAULT_SHARD_SIZE
    flush_seconds: float = DEFAULT_FLUSH_SECONDS
    fail_fast: bool = False

    def __call__(
        self,
        store: EmbeddingStore,
        settings: Mapping[str, Any],
        todo: list[tuple[str, AudioInput]],
        report: EmbedReport,
    ) -> None:
        with store.writer(
            settings, shard_size=self.shard_size, flush_seconds=self.flush_seconds
        ) as writer:
            for index, result in self.embedder.embed_iter([source for _, source in todo]):
                key, source = todo[index]
                if isinstance(result, AudioError):
                    if self.fail_fast:
                        raise result
                    report.failures.append(failure_record(key, source, result))
                    continue
                writer.add(key, result.layers)
                report.embedded += 1


class ShardWriter:
    """Adds utterances to a store: buffered, flushed as a shard every ``shard_size`` utterances
    or once the oldest buffered one is ``flush_seconds`` old, and on :meth:`close`.

    Use it as a context manager: leaving the block on an exception or Ctrl-C still writes the
    buffered utterances (unless writing itself failed, e.g. on a full disk).
    """

    def __init__(
        self, store: EmbeddingStore, owner: str, shard_size: int, flush_seconds: float
    ) -> None:
        settings = store.settings
        assert settings is not None
        self.store, self.owner = store, owner
        self.layers: list[int] = settings["layers"]
        self.dtype = np.dtype(settings["dtype"])
        self.shard_size, self.flush_seconds = shard_size, flush_seconds
        self.shards_written = 0
        self._buffer: list[tuple[str, dict[int, np.ndarray]]] = []
        self._oldest = 0.0
        self._broken = False

    def add(self, key: str, layers: Mapping[int, np.ndarray | torch.Tensor]) -> None:
        """Buffer ``key``'s frames: ``layers[K]`` is a (frames, d) array for every stored layer."""
        if set(layers) != set(self.layers):
            raise StoreMismatchError(
                f"{key}: frames for layers {sorted(layers)}, but the store holds {self.layers}"
            )
        arrays = {
            layer: np.asarray(
                frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else frames,
                dtype=self.dtype,
            )
            for layer, frames in layers.items()
        }
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append((key, arrays))
        if (
            len(self._buffer) >= self.shard_size
            or time.monotonic() - self._oldest >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered utterances as one shard."""
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        keys = [key for key, _ in batch]
        lengths = np.array([len(arrays[self.layers[0]]) for _, arrays in batch], np.int64)
        layers = {layer: np.concatenate([a[layer] for _, a in batch]) for layer in self.layers}
        seconds, nanoseconds = divmod(time.time_ns(), 10**9)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f"{nanoseconds:09d}"
        path = self.store.shard_dir / f"{stamp}-{self.owner}-{self.shards_written:06d}{SUFFIX}"

        def write(handle: BinaryIO) -> None:
            write_shard(handle, keys, lengths, layers)

        try:
            write_atomically(path, self.owner, write, needed=shard_bytes(lengths, layers))
        except StoreWriteError:
            self._broken = True
            raise
        self.shards_written += 1

    def close(self) -> None:
        if not self._broken:
            self.flush()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EmbeddingStore:
    """Embeddings of keyed utterances in ``path`` (see the module documentation for the layout).

    Creating the object touches nothing on disk; writing creates the store.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.shard_dir = self.path / "shards"

    def __repr__(self) -> str:
        return f"EmbeddingStore({str(self.path)!r})"

    # ------------------------------------------------------------------ settings

    @property
    def settings(self) -> dict[str, Any] | None:
        """The settings in ``store.json``, or None where there is no store yet."""
        file = self.path / "store.json"
        if not file.is_file():
            if self.path.exists() and not self.path.is_dir():
                raise StoreError(f"{self.path} is a file, not a store directory")
            return None
        try:
            settings = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise StoreError(f"{file}: unreadable store settings ({error})") from None
        if not isinstance(settings, dict) or settings.get("format") != FORMAT_VERSION:
            found = settings.get("format") if isinstance(settings, dict) else None
            raise StoreMismatchError(
                f"{self.path} is a store of format {found!r}, this seqsim reads format "
                f"{FORMAT_VERSION}; embed into a new directory"
            )
        return settings

    def _claim(self, settings: Mapping[str, Any], owner: str) -> None:
        """Create the store with ``settings``, or check that it holds the same identity."""
        missing = [name for name in (*IDENTITY, "hidden_states") if name not in settings]
        if missing:
            raise ValueError(f"store settings lack {', '.join(missing)}")
        check_choice("dtype", settings["dtype"], STORAGE_DTYPES)
        if self.settings is None:
            make_folder(self.shard_dir)
            record = {"format": FORMAT_VERSION, "seqsim_version": __version__, **settings}
            text = json.dumps(record, indent=2)
            write_text_atomically(self.path / "store.json", owner, text, replace=False)
        existing = self.settings
        assert existing is not None
        for name in IDENTITY:
            if existing.get(name) != settings[name]:
                raise StoreMismatchError(
                    f"{self.path} holds embeddings with {name}={existing.get(name)!r}, "
                    f"but {name}={settings[name]!r} was asked for; use another store directory"
                )

    @contextmanager
    def writer(
        self,
        settings: Mapping[str, Any],
        *,
        shard_size: int = DEFAULT_SHARD_SIZE,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    ) -> Iterator[ShardWriter]:
        """A :class:`ShardWriter` for frames made with ``settings`` (``model``, ``layers``,
        ``dtype``, ``hidden_states`` and anything else worth recording). Many writers, in one
        process or many, may write one store at once."""
        check_flush_policy(shard_size, flush_seconds)
        with locks.owner(self.path) as owner:
            self._claim(settings, owner)
            self.remove_dead_writers_files()
            with ShardWriter(self, owner, shard_size, flush_seconds) as shard_writer:
                yield shard_writer

    def remove_dead_writers_files(self) -> list[Path]:
        """Remove the temporary files of writers that died (only the store's own, by name)."""
        folders = [self.path, self.shard_dir]
        return locks.remove_dead_owners_files(self.path, folders)

    # ------------------------------------------------------------------ shards

    def _shards(self) -> list[Path]:
        if not self.shard_dir.is_dir():
            return []
        return sorted(p for p in self.shard_dir.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    def _contents(self) -> list[ShardContents]:
        return [read_contents(shard) for shard in self._shards()]

    def keys(self) -> list[str]:
        """Keys of every stored utterance, each once, in storage order."""
        return list(_first_copies(self._contents()))

    def set_aside_corrupt_shards(self, check_frames: bool = True) -> list[Path]:
        """Move every shard that cannot be read back to ``shards/set-aside/`` and return where
        each went; their utterances count as not stored (an embed run redoes them). Without
        ``check_frames`` only keys, lengths and layer headers are read (fast; the frames are
        CRC-checked by the next consolidation)."""
        moved = []
        for shard in self._shards():
            try:
                contents = read_contents(shard)
                for layer in contents.dims if check_frames else ():
                    read_layer(shard, layer)
            except CorruptShardError as error:
                moved.append(self._set_aside(shard, error))
        return moved

    def _set_aside(self, shard: Path, error: CorruptShardError) -> Path:
        folder = self.shard_dir / SET_ASIDE
        make_folder(folder)
        target = folder / shard.name
        shard.replace(target)
        logger.warning("%s; moved to %s, its utterances will be embedded again", error, target)
        return target

    # ------------------------------------------------------------------ embedding

    def embed(
        self,
        utterances: Sequence[tuple[str, AudioInput]],
        embedder: Any,
        *,
        dtype: str = "float16",
        shard_size: int = DEFAULT_SHARD_SIZE,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        fail_fast: bool = False,
    ) -> EmbedReport:
        """Embed every ``(key, audio)`` not stored yet with ``embedder`` (a
        :class:`~seqsim.WhisperEmbedder`) in this process, then consolidate.

        Shards are flushed every ``shard_size`` utterances or ``flush_seconds`` seconds,
        whichever comes first: a killed run loses at most that much work. Bad audio is recorded
        in ``failures.jsonl`` and skipped (raised at once with ``fail_fast``). The rest is
        :meth:`embed_with`'s (one run at a time, corrupt shards set aside and redone).
        """
        check_choice("dtype", dtype, STORAGE_DTYPES)
        check_flush_policy(shard_size, flush_seconds)
        producer = EmbedderProducer(embedder, shard_size, flush_seconds, fail_fast)
        return self.embed_with(producer, utterances, {**embedder.settings(), "dtype": dtype})

    def embed_with(
        self,
        producer: Producer,
        utterances: Sequence[tuple[str, AudioInput]],
        settings: Mapping[str, Any],
    ) -> EmbedReport:
        """One embed run: ``producer`` writes every ``(key, audio)`` not stored yet, made with
        ``settings`` (``model``, ``layers``, ``dtype``, ``hidden_states``, ...), through
        :meth:`writer`; then the store is consolidated and ``failures.jsonl`` written.

        The producer may be this process's embedder (:meth:`embed`), a Ray pipeline whose
        actors write shards on other hosts (:func:`seqsim.distributed.embed_on_ray`), or any
        other. Keys already stored, or failed earlier in this run, are never given to it. A
        corrupt shard is set aside and its utterances produced again. One run at a time per
        store: a second one raises :class:`~seqsim.store.StoreBusyError`.
        """
        counts = Counter(key for key, _ in utterances)
        duplicates = sorted(key for key, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"duplicate utterance keys: {duplicates[:5]}")
        report = EmbedReport()
        make_folder(self.path)
        with locks.exclusive(self.path / "embed.lock", "embed run"):
            for attempt in range(3):  # a shard found corrupt while consolidating: another round
                with locks.owner(self.path) as owner:
                    self._claim(settings, owner)
                self.remove_dead_writers_files()
                report.set_aside += [
                    str(p) for p in self.set_aside_corrupt_shards(check_frames=False)
                ]
                done = set(self.keys()) | {f["key"] for f in report.failures}
                todo = [(key, source) for key, source in utterances if key not in done]
                if attempt == 0:
                    report.skipped = len(utterances) - len(todo)
                if todo:
                    producer(self, settings, todo, report)
                set_aside = self._consolidate(repair=True)
                report.set_aside += [str(p) for p in set_aside]
                if not set_aside:
                    break
            lines = "".join(json.dumps(failure) + "\n" for failure in report.failures)
            with locks.owner(self.path) as owner:
                write_text_atomically(self.path / "failures.jsonl", owner, lines)
        return report

    # ------------------------------------------------------------------ reading

    def _require_settings(self) -> dict[str, Any]:
        settings = self.settings
        if settings is None:
            raise StoreError(f"{self.path} is not an embedding store (no store.json)")
        return settings

    def consolidate(self) -> None:
        """Write ``layer_K.npy`` and ``index.json`` from the shards (skipped when up to date).

        Raises :class:`CorruptShardError` naming a shard that cannot be read; an embed run
        sets such a shard aside and embeds its utterances again."""
        self._consolidate(repair=False)

    def _consolidate(self, repair: bool) -> list[Path]:
        settings = self._require_settings()
        if self._index_is_current(settings):
            return []  # also what lets a read-only store be read
        with locks.shared_or_exclusive(self.path / "consolidate.lock", exclusive_lock=True):
            if self._index_is_current(settings):
                return []
            with locks.owner(self.path) as owner:
                try:
                    _consolidate(self.path, owner, self._contents(), settings)
                except CorruptShardError as error:
                    if repair:
                        return [self._set_aside(error.path, error)]
                    advice = (
                        "run the embed again to set it aside and re-embed its utterances, or "
                        "drop it with EmbeddingStore.set_aside_corrupt_shards()"
                    )
                    raise CorruptShardError(error.path, error.problem, advice) from None
        return []

    def _index_is_current(self, settings: Mapping[str, Any]) -> bool:
        index = _read_index(self.path)
        if index is None or index["shards"] != [shard.name for shard in self._shards()]:
            return False
        return all((self.path / f"layer_{layer}.npy").is_file() for layer in settings["layers"])

    def load(self, layer: int) -> tuple[list[str], PackedSequences]:
        """Keys and memory-mapped frames of ``layer`` (negative counts from the last hidden
        state) for every stored utterance, consolidating first if shards were added."""
        settings = self._require_settings()
        if layer < 0:
            layer += settings["hidden_states"]
        if layer not in settings["layers"]:
            raise StoreMismatchError(
                f"{self.path} holds layers {settings['layers']} of {settings['model']}, "
                f"not layer {layer}"
            )
        self.consolidate()
        # index.json and the layer files change together under the exclusive lock
        layer_file = self.path / f"layer_{layer}.npy"
        with locks.shared_or_exclusive(self.path / "consolidate.lock", exclusive_lock=False):
            index = _read_index(self.path)
            frames = np.load(layer_file, mmap_mode="r")
            mapped = MappedFile.of(layer_file)
        if index is None or not index["keys"]:
            raise StoreError(f"{self.path} holds no embeddings yet")
        if frames.shape[0] != sum(index["lengths"]):
            raise StoreError(f"{self.path}: layer_{layer}.npy does not match index.json")
        packed = PackedSequences.from_lengths(frames, index["lengths"])
        return index["keys"], PackedSequences(packed.frames, packed.offsets, mapped)


def _first_copies(contents: Iterable[ShardContents]) -> dict[str, tuple[int, int]]:
    """For every key, the (shard number, row) of its first copy, in storage order."""
    first: dict[str, tuple[int, int]] = {}
    for number, shard in enumerate(contents):
        for row, key in enumerate(shard.keys):
            first.setdefault(key, (number, row))
    return first


def _read_index(path: Path) -> dict[str, Any] | None:
    file = path / "index.json"
    try:
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None
    except ValueError:
        return None  # rewritten by the next consolidation


def _consolidate(
    path: Path, owner: str, contents: list[ShardContents], settings: Mapping[str, Any]
) -> None:
    """Write every layer's frames (the first copy of each key), then the index naming them."""
    first = _first_copies(contents)
    kept_rows = [
        np.array(
            [row for row, key in enumerate(shard.keys) if first[key] == (number, row)],
            dtype=np.int64,
        )
        for number, shard in enumerate(contents)
    ]
    lengths = [
        int(shard.lengths[row])
        for shard, rows in zip(contents, kept_rows, strict=True)
        for row in rows
    ]
    dtype = np.dtype(settings["dtype"])
    for layer in settings["layers"]:
        _write_layer(path / f"layer_{layer}.npy", owner, layer, contents, kept_rows, dtype)
    index = {
        "keys": list(first),
        "lengths": lengths,
        "shards": [shard.path.name for shard in contents],
    }
    write_text_atomically(path / "index.json", owner, json.dumps(index))


def _write_layer(
    target: Path,
    owner: str,
    layer: int,
    contents: list[ShardContents],
    kept_rows: list[np.ndarray],
    dtype: np.dtype,
) -> None:
    """Stream one layer's frames into a ``.npy`` file, shard by shard (no memory map: a full
    disk is an error here, not a SIGBUS later)."""
    total_frames = sum(
        int(shard.lengths[rows].sum()) for shard, rows in zip(contents, kept_rows, strict=True)
    )
    dims = {shard.dims.get(layer) for shard in contents}
    if len(dims) > 1 or None in dims:
        shard = next(s for s in contents if s.dims.get(layer) != contents[0].dims.get(layer))
        raise CorruptShardError(shard.path, f"layer {layer} differs from the other shards'")
    shape: tuple[int, int] = (total_frames, dims.pop() or 0 if dims else 0)

    def write(handle: BinaryIO) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
        np.lib.format.write_array_header_2_0(handle, {**header, "shape": shape})
        for shard, rows in zip(contents, kept_rows, strict=True):
            frames = read_layer(shard.path, layer)
            offsets = np.concatenate([[0], np.cumsum(shard.lengths)])
            if len(rows) == len(shard.keys):
                handle.write(np.ascontiguousarray(frames, dtype=dtype).tobytes())
            else:
                for row in rows:
                    piece = frames[offsets[row] : offsets[row + 1]]
                    handle.write(np.ascontiguousarray(piece, dtype=dtype).tobytes())

    write_atomically(target, owner, write, needed=shape[0] * shape[1] * dtype.itemsize)
