"""A resumable on-disk store of encoder frames for keyed utterances, safe for many writers.

Layout of a store directory::

    store.json              settings: format, seqsim version, model, layers, storage dtype, ...
    shards/*.npz            finished utterances (see :mod:`seqsim.store.shards`), each named
                            <UTC time>-<owner>-<number>.npz by the writer that made it; a
                            shard of an embed run that adds layers holds only those
                            (see :mod:`seqsim.store.copies`)
    shards/set-aside/       shards found corrupt, moved out of the way (their keys re-embedded)
    writers/<owner>.lock    one per living writer (see :mod:`seqsim.store.locks`)
    failures.jsonl          utterances that failed in the last embed run: key, source, reason
    layer_K.npy             after consolidation: every utterance's frames of layer K
                            (see :mod:`seqsim.store.layers`)
    index.json              after consolidation: keys, lengths, the shards they came from and
                            the CRC-32 of every layer file

Writers never share a file: every shard has a name of its own and appears by an atomic rename,
so any number of processes (on any hosts that see the same filesystem) can add shards at once.
A key written twice (two writers given the same utterance) is read once: the first shard in
name order that holds a layer wins for that layer, in :meth:`EmbeddingStore.keys` and in
consolidation alike; a key is stored once it holds every layer of ``store.json``. A killed writer
loses only the utterances it had not flushed yet (``shard_size`` / ``flush_seconds``).

Nothing in a store is written or read through a symbolic link (:mod:`seqsim.store.files`):
a link in place of a file or folder of the store's own is a
:class:`~seqsim.store.StoreLinkError` naming it. Every file frames are read from carries a
checksum: a shard's members their zip CRC-32s, a layer file the CRC-32 in ``index.json``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol, TypeGuard

import numpy as np
import torch

from .._defaults import (
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_SHARD_SIZE,
    DEFAULT_STORAGE_DTYPE,
    STORAGE_DTYPES,
)
from .._version import __version__
from ..audio import (
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    AudioError,
    AudioInput,
    describe,
    short_audio_note,
)
from ..checks import check_choice, check_count, check_positive
from ..provenance import describe_record, identify, same_audio
from ..sequences import PackedSequences
from . import locks
from .copies import Copies
from .files import (
    StoreError,
    StoreWriteError,
    make_folder,
    make_own_folder,
    read_own_file,
    refuse_link,
    write_atomically,
    write_text_atomically,
)
from .layers import StoreCorruptError, open_layer, write_layer
from .shards import (
    SUFFIX,
    CorruptShardError,
    ShardContents,
    read_contents,
    read_layer,
    shard_bytes,
    write_shard,
)

FORMAT_VERSION = 3
IDENTITY = ("family", "model", "options", "dtype")
"""The settings that must match for frames to share a store: the encoder family, the model,
the family's options that change the frames, and the storage dtype (its layers can grow:
:meth:`EmbeddingStore.embed_with`)."""
ENCODER_DEFAULTS: dict[str, Any] = {
    "family": "whisper",
    "options": {},
    "frame_seconds": SAMPLES_PER_FRAME / SAMPLE_RATE,
}
"""The encoder settings of a store that does not record them (made before seqsim took other
encoders than Whisper, or written by hand): Whisper's, with no options."""


def _identity(settings: Mapping[str, Any], name: str) -> Any:
    """The identity setting ``name`` of ``settings``, its default where it is not recorded."""
    return settings.get(name, ENCODER_DEFAULTS.get(name))


SET_ASIDE = "set-aside"
_REPAIR = (
    "run the embed again to set it aside and re-embed its utterances, or drop it with "
    "EmbeddingStore.set_aside_corrupt_shards()"
)
"""What to do about a corrupt shard found while reading."""

logger = logging.getLogger(__name__)


class StoreMismatchError(StoreError, ValueError):
    """The store holds embeddings made with other settings than those asked for.

    Also a ``ValueError``. Raised for another model or storage dtype than the store's, an
    embed run whose layers lack some of the store's (unless it has nothing to embed), frames
    of other layers than it holds, and a store of another format version.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = EmbeddingStore(folder)
    ...     with store.writer(settings) as writer:
    ...         writer.add("en/s01", {6: np.ones((3, 4))})
    ...     store.load(4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.store.store.StoreMismatchError: /... holds layers [6] of toy, not layer 4
    """


class AudioChangedError(StoreMismatchError):
    """A store asked for frames of audio other than the audio they were made from.

    Also a :class:`StoreMismatchError` (and a ``ValueError``). Raised by
    :meth:`EmbeddingStore.check_audio`, which an evaluation that reads a store without a
    model runs first.

    Parameters
    ----------
    path : pathlib.Path
        The store.
    changed : list of dict
        ``key``, ``stored`` and ``given`` (what each audio is) of every changed key.

    Attributes
    ----------
    changed : list of dict
        As given.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.store import AudioChangedError
    >>> error = AudioChangedError(Path("store"), [
    ...     {"key": "nl/s01", "stored": "/corpus/nl/s01.wav", "given": "/corpus/nl/s02.wav"}])
    >>> print(error)  # doctest: +NORMALIZE_WHITESPACE
    store holds 1 utterance(s) made from other audio than given now: nl/s01 was
    /corpus/nl/s01.wav, is now /corpus/nl/s02.wav; embed them again (evaluate with a model,
    or seqsim embed), or use another store
    """

    def __init__(self, path: Path, changed: list[dict[str, str]]) -> None:
        shown = "; ".join(
            f"{change['key']} was {change['stored']}, is now {change['given']}"
            for change in changed[:3]
        )
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        super().__init__(
            f"{path} holds {len(changed)} utterance(s) made from other audio than given now: "
            f"{shown}{more}; embed them again (evaluate with a model, or seqsim embed), or "
            "use another store"
        )
        self.changed = changed


@dataclass
class EmbedReport:
    """What one :meth:`EmbeddingStore.embed` (or :meth:`~EmbeddingStore.embed_with`) run did.

    Parameters
    ----------
    embedded : int, default 0
        Utterances embedded and written in this run (those given layers the run adds
        included).
    skipped : int, default 0
        Utterances stored with every layer of the run when it began.
    failures : list of dict, default []
        One :func:`failure_record` per utterance that failed (``key``, ``source``,
        ``reason``), as written to ``failures.jsonl``.
    set_aside : list of str, default []
        Corrupt shards moved to ``shards/set-aside/`` (their utterances were embedded again).
    changed : list of dict, default []
        Utterances stored from other audio than they were given now (``key``, ``stored``,
        ``given``: what each audio is, :func:`~seqsim.provenance.describe_record`): their old
        frames were dropped and they were embedded again (counted in ``embedded``).
    unchecked : list of str, default []
        Keys reused without a check of their audio: stored without a record of it (by a
        producer of one's own), or recorded from a file that is gone from the same path.
    short : list of dict, default []
        Utterances embedded whose audio is implausibly short (``key``, ``source``,
        ``reason``; see :data:`~seqsim.audio.SHORT_AUDIO_SECONDS`).
    layers_added : list of int, default []
        Layers the run added to the store (every stored utterance now holds them).

    Examples
    --------
    >>> from seqsim.store import EmbedReport
    >>> EmbedReport()
    EmbedReport(embedded=0, skipped=0, failures=[], set_aside=[], changed=[], unchecked=[], \
short=[], layers_added=[])
    """

    embedded: int = 0
    skipped: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)
    changed: list[dict[str, str]] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    short: list[dict[str, str]] = field(default_factory=list)
    layers_added: list[int] = field(default_factory=list)


def check_flush_policy(shard_size: int, flush_seconds: float) -> None:
    """Check the options of :class:`ShardWriter` that say when a shard is flushed.

    Parameters
    ----------
    shard_size : int
        Must be an integer of at least 1.
    flush_seconds : float
        Must be a finite number of seconds, 0 or more.

    Raises
    ------
    ValueError
        Naming the option and the value, when either is out of range.

    Examples
    --------
    >>> from seqsim.store.store import check_flush_policy
    >>> check_flush_policy(64, 0)
    >>> check_flush_policy(0, 10.0)
    Traceback (most recent call last):
        ...
    ValueError: shard_size must be an integer >= 1, got 0
    """
    check_count("shard_size", shard_size, 1)
    check_positive("flush_seconds", flush_seconds, "number of seconds", zero=True)


class Producer(Protocol):
    """What :meth:`EmbeddingStore.embed_with` runs to make the frames of an embed run.

    Any callable with :meth:`__call__`'s signature: :class:`EmbedderProducer` (this
    process's embedder), a Ray pipeline (:func:`seqsim.distributed.embed_on_ray`), or one of
    your own. An embed run calls it at most twice (and again for the utterances of a shard
    found corrupt): once with the utterances new to the store, whose ``settings["layers"]``
    are every layer of the run, and, where the run adds layers to the store, once with the
    stored utterances, whose ``settings["layers"]`` are only the layers added. It must make
    exactly the layers that ``settings`` name, or more: the writer keeps those it writes.

    Examples
    --------
    A producer that writes two zero frames for every layer asked of it; the second run adds
    layer 1 to the store:

    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "zeros", "layers": [0], "dtype": "float16", "hidden_states": 2}
    >>> def zeros(store, settings, todo, report):
    ...     print("layers", settings["layers"], "of", [key for key, _ in todo])
    ...     with store.writer(settings) as writer:
    ...         for key, _ in todo:
    ...             writer.add(key, {layer: np.zeros((2, 4)) for layer in settings["layers"]})
    ...             report.embedded += 1
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = EmbeddingStore(folder)
    ...     first = store.embed_with(zeros, [("a", "a.wav")], settings)
    ...     both = [("a", "a.wav"), ("b", "b.wav")]
    ...     second = store.embed_with(zeros, both, {**settings, "layers": [0, 1]})
    ...     print(store.settings["layers"], second.layers_added, store.load(1)[0])
    layers [0] of ['a']
    layers [0, 1] of ['b']
    layers [1] of ['a']
    [0, 1] [1] ['a', 'b']
    """

    def __call__(
        self,
        store: EmbeddingStore,
        settings: Mapping[str, Any],
        todo: list[tuple[str, AudioInput]],
        report: EmbedReport,
    ) -> None:
        """Write the frames of ``settings["layers"]`` of every ``(key, audio)`` of ``todo``.

        Write through ``store.writer(settings)``; count each written one in
        ``report.embedded`` and record each that fails in ``report.failures`` (``key``,
        ``source``, ``reason``; see :func:`failure_record`).

        Parameters
        ----------
        store : EmbeddingStore
            The store to write.
        settings : mapping
            The run's settings, with the layers to make for ``todo``: to pass to
            :meth:`EmbeddingStore.writer`.
        todo : list of (str, AudioInput)
            The utterances that lack those layers.
        report : EmbedReport
            The run's report, to update.
        """


def failure_record(key: str, source: AudioInput, error: AudioError) -> dict[str, str]:
    """A ``failures.jsonl`` row: the key, where its audio came from, and what was wrong.

    Parameters
    ----------
    key : str
        The utterance's key.
    source : AudioInput
        Its audio (a path is named; in-memory audio is called so).
    error : AudioError
        What was wrong.

    Returns
    -------
    dict of str to str
        ``key``, ``source`` and ``reason``.

    Examples
    --------
    >>> from seqsim.audio import AudioError
    >>> from seqsim.store.store import failure_record
    >>> failure_record("en/s01", "en/s01.wav", AudioError("en/s01.wav: file not found"))
    {'key': 'en/s01', 'source': 'en/s01.wav', 'reason': 'en/s01.wav: file not found'}
    """
    return {"key": key, "source": describe(source), "reason": str(error)}


@dataclass
class EmbedderProducer:
    """The :class:`Producer` that embeds in this process, through one :class:`ShardWriter`.

    :meth:`EmbeddingStore.embed` uses it.

    Every utterance is written with the identity of its audio
    (:func:`~seqsim.provenance.identify`), and an implausibly short one is listed in the
    report's ``short``.

    Parameters
    ----------
    embedder : WhisperEmbedder or callable
        A :class:`~seqsim.WhisperEmbedder`, or anything with its ``embed_iter``, that makes
        every layer of the run. Or a function without arguments that makes one: it is called
        only when there is something to embed (once, however often the producer is called),
        so that a run that finds every utterance stored loads no model. The embedder it makes
        must have the run's model and make its layers (``settings()``, as the store records
        them). Where a call asks for fewer layers (those a run adds to stored utterances),
        the writer keeps only those.
    shard_size, flush_seconds : int, float
        When the writer flushes a shard (see :class:`ShardWriter`).
    fail_fast : bool, default False
        Raise the first :class:`~seqsim.audio.AudioError` instead of recording it.

    Examples
    --------
    With a stand-in embedder that gives two frames of ones for every utterance:

    >>> import torch
    >>> from seqsim.encoders import Embedding
    >>> from seqsim.store import EmbedderProducer, EmbeddingStore
    >>> class Ones:
    ...     def embed_iter(self, sources):
    ...         for index, _ in enumerate(sources):
    ...             yield index, Embedding({6: torch.ones(2, 4)}, num_samples=640)
    >>> import tempfile
    >>> import numpy as np
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = EmbeddingStore(folder)
    ...     audio = [("en/s01", (np.full(640, 0.1), 16_000))]
    ...     report = store.embed_with(EmbedderProducer(Ones()), audio, settings)
    ...     print(report.embedded, store.keys(), list(store.sources()["en/s01"]))
    1 ['en/s01'] ['sha256']
    """

    embedder: Any
    shard_size: int = DEFAULT_SHARD_SIZE
    flush_seconds: float = DEFAULT_FLUSH_SECONDS
    fail_fast: bool = False
    _made: Any = field(default=None, init=False, repr=False)

    def __call__(
        self,
        store: EmbeddingStore,
        settings: Mapping[str, Any],
        todo: list[tuple[str, AudioInput]],
        report: EmbedReport,
    ) -> None:
        """Embed ``todo`` and write it into ``store``, as :meth:`Producer.__call__` says.

        Raises
        ------
        AudioError
            With ``fail_fast``, at the first bad audio.
        StoreMismatchError
            When the embedder made by a function has another model than the run's, or lacks
            some of its layers.
        """
        embedder = self._embedder(store, settings)
        with store.writer(
            settings, shard_size=self.shard_size, flush_seconds=self.flush_seconds
        ) as writer:
            for index, result in embedder.embed_iter([source for _, source in todo]):
                key, source = todo[index]
                try:
                    if isinstance(result, AudioError):
                        raise result
                    identity = identify(source)
                except AudioError as error:
                    if self.fail_fast:
                        raise
                    report.failures.append(failure_record(key, source, error))
                    continue
                writer.add(key, result.layers, identity)
                report.embedded += 1
                note = short_audio_note(describe(source), result.num_samples)
                if note is not None:
                    report.short.append({"key": key, "source": describe(source), "reason": note})

    def _embedder(self, store: EmbeddingStore, settings: Mapping[str, Any]) -> Any:
        """The embedder; where a function was given, the one it made (on the first call), checked
        against the run's settings."""
        if hasattr(self.embedder, "embed_iter"):
            return self.embedder
        if self._made is None:
            self._made = self.embedder()
        made = {**self._made.settings(), "dtype": settings["dtype"]}
        problems = [
            f"{name}={_identity(made, name)!r}, not the planned {_identity(settings, name)!r}"
            for name in IDENTITY
            if _identity(made, name) != _identity(settings, name)
        ]
        lacking = sorted(set(settings["layers"]) - set(made.get("layers", ())))
        if lacking:
            problems.append(f"layers={made.get('layers')!r}, without the planned {lacking}")
        if problems:
            raise StoreMismatchError(
                f"the embedder made for {store.path} has " + "; ".join(problems)
            )
        return self._made


def _write_new_shard(
    store: EmbeddingStore,
    owner: str,
    number: int,
    keys: list[str],
    lengths: np.ndarray,
    layers: Mapping[int, np.ndarray],
    sources: list[dict[str, Any] | None],
) -> Path:
    """Write one shard under a new name, ``<UTC time>-<owner>-<number>.npz``, atomically."""
    seconds, nanoseconds = divmod(time.time_ns(), 10**9)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f"{nanoseconds:09d}"
    path = store.shard_dir / f"{stamp}-{owner}-{number:06d}{SUFFIX}"

    def write(handle: BinaryIO) -> None:
        write_shard(handle, keys, lengths, layers, sources)

    write_atomically(path, owner, write, needed=shard_bytes(lengths, layers))
    return path


@dataclass
class _Plan:
    """What an embed run gives its producer.

    Attributes
    ----------
    layers : list of int
        Every layer of the run and the store: what new utterances are given.
    added : list of int
        The layers the run adds to the store: what stored utterances are given.
    new : list of (str, AudioInput)
        The utterances to embed with every layer (not stored, or stored from other audio).
    lacking : list of (str, AudioInput)
        The stored utterances that lack some of the layers added, in storage order.
    not_given : list of str
        Stored keys that lack some of the layers added but are not among the utterances.
    """

    layers: list[int]
    added: list[int]
    new: list[tuple[str, AudioInput]]
    lacking: list[tuple[str, AudioInput]]
    not_given: list[str]


def _plan(
    copies: Copies,
    utterances: Sequence[tuple[str, AudioInput]],
    stored: list[int],
    asked: list[int],
    redo: set[str],
    failed: set[str],
) -> _Plan:
    """What an embed run of ``utterances`` asking for ``asked`` layers gives its producer, in a
    store of ``stored`` layers whose shards ``copies`` describes; keys in ``redo`` are embedded
    again, keys in ``failed`` left out."""
    added = sorted(set(asked) - set(stored))
    new, lacking = [], []
    for key, source in utterances:
        if key in failed:
            continue
        held = copies.layers(key)
        if key in redo or not held.issuperset(stored):
            new.append((key, source))
        elif not held.issuperset(added):
            lacking.append((key, source))
    order = {key: number for number, key in enumerate(copies.rows)}
    lacking.sort(key=lambda item: order[item[0]])
    given = {key for key, _ in utterances}
    not_given = [
        key
        for key in (copies.holding(stored) if added else [])
        if key not in given and not copies.layers(key).issuperset(added)
    ]
    return _Plan(sorted(set(stored) | set(asked)), added, new, lacking, not_given)


class ShardWriter:
    """Adds utterances to a store: buffered, and flushed as shards.

    A shard is flushed every ``shard_size`` utterances or once the oldest buffered one is
    ``flush_seconds`` old (checked when one is added), and on :meth:`close`. Use it as a
    context manager: leaving the block on an exception or Ctrl-C still writes the buffered
    utterances (unless writing itself failed, e.g. on a full disk). Get one from
    :meth:`EmbeddingStore.writer`, which makes the store and its owner.

    Parameters
    ----------
    store : EmbeddingStore
        A store that has settings already.
    owner : str
        The writer's owner name (:func:`seqsim.store.locks.owner`).
    shard_size : int
        Utterances per shard (at least 1). A killed writer loses at most this many.
    flush_seconds : float
        Seconds after which buffered utterances are flushed (0 or more).
    layers : sequence of int, optional
        The layers it writes: the store's by default. Fewer are what an embed run that adds
        layers writes for the utterances stored already; more, what it writes for new ones.

    Attributes
    ----------
    layers : list of int
        The layers it writes.
    dtype : numpy.dtype
        The storage dtype.
    shards_written : int
        Shards written so far.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = EmbeddingStore(folder)
    ...     with store.writer(settings, shard_size=2) as writer:
    ...         for key in ("en/s01", "fr/s01", "de/s01"):
    ...             writer.add(key, {6: np.ones((3, 4))})
    ...     print(writer.shards_written, store.keys())
    2 ['en/s01', 'fr/s01', 'de/s01']
    """

    def __init__(
        self,
        store: EmbeddingStore,
        owner: str,
        shard_size: int,
        flush_seconds: float,
        layers: Sequence[int] | None = None,
    ) -> None:
        settings = store._require_settings()
        self.store, self.owner = store, owner
        self.layers: list[int] = list(settings["layers"] if layers is None else layers)
        self.dtype = np.dtype(settings["dtype"])
        self.shard_size, self.flush_seconds = shard_size, flush_seconds
        self.shards_written = 0
        self._buffer: list[tuple[str, dict[int, np.ndarray], dict[str, Any] | None]] = []
        self._oldest = 0.0
        self._broken = False

    def add(
        self,
        key: str,
        layers: Mapping[int, np.ndarray | torch.Tensor],
        source: Mapping[str, Any] | None = None,
    ) -> None:
        """Buffer ``key``'s frames, and flush when a shard is due.

        Parameters
        ----------
        key : str
            The utterance's key.
        layers : mapping of int to numpy.ndarray or torch.Tensor
            ``layers[K]`` is a (frames, d) array or tensor for every layer the writer writes
            (others are left out); it is converted to the storage dtype.
        source : mapping, optional
            The identity of the audio the frames were made from
            (:func:`seqsim.provenance.identify`), which an embed run checks the next time it
            is given ``key``. Without it the audio is unknown, and an embed run that is given
            ``key`` embeds it again.

        Raises
        ------
        StoreMismatchError
            When the layers given lack some of those the writer writes.
        StoreWriteError
            When a due flush cannot be written.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with EmbeddingStore(folder).writer(settings) as writer:
        ...         writer.add("en/s01", {4: np.ones((3, 4))})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        seqsim.store.store.StoreMismatchError: en/s01: frames for layers [4], but the writer ...
        """
        missing = sorted(set(self.layers) - set(layers))
        if missing:
            raise StoreMismatchError(
                f"{key}: frames for layers {sorted(layers)}, but the writer writes "
                f"{self.layers}: {missing} missing"
            )
        arrays = {
            layer: np.asarray(
                frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else frames,
                dtype=self.dtype,
            )
            for layer, frames in layers.items()
            if layer in self.layers
        }
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append((key, arrays, None if source is None else dict(source)))
        if (
            len(self._buffer) >= self.shard_size
            or time.monotonic() - self._oldest >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered utterances as one shard (nothing when none are buffered).

        The shard is named ``<UTC time>-<owner>-<number>.npz`` and appears by an atomic rename.

        Raises
        ------
        StoreWriteError
            When it cannot be written (a :class:`~seqsim.store.StoreFullError` on a full disk);
            the writer then writes nothing more on :meth:`close`.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with EmbeddingStore(folder).writer(settings) as writer:
        ...         writer.add("en/s01", {6: np.ones((3, 4))})
        ...         writer.flush()
        ...         print(writer.shards_written)
        1
        """
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        keys = [key for key, _, _ in batch]
        lengths = np.array([len(arrays[self.layers[0]]) for _, arrays, _ in batch], np.int64)
        layers = {layer: np.concatenate([a[layer] for _, a, _ in batch]) for layer in self.layers}
        sources = [source for _, _, source in batch]
        try:
            _write_new_shard(
                self.store, self.owner, self.shards_written, keys, lengths, layers, sources
            )
        except StoreWriteError:
            self._broken = True
            raise
        self.shards_written += 1

    def close(self) -> None:
        """Flush what is buffered, unless a write has failed already.

        Raises
        ------
        StoreWriteError
            When the last shard cannot be written.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.writer(settings) as writer:
        ...         writer.add("en/s01", {6: np.ones((3, 4))})
        ...         writer.close()
        ...         print(store.keys())
        ['en/s01']
        """
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

    Creating the object touches nothing on disk; writing creates the store. Any number of
    writers, in one process or many, on any hosts that see the same filesystem, may add shards
    at once; a key written twice is read once (the first shard in name order wins). Readers
    get memory-mapped frames (:meth:`load`).

    Parameters
    ----------
    path : str or pathlib.Path
        The store directory.

    Attributes
    ----------
    path : pathlib.Path
        The store directory.
    shard_dir : pathlib.Path
        Its ``shards`` folder.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = EmbeddingStore(folder)
    ...     with store.writer(settings) as writer:
    ...         writer.add("en/s01", {6: np.ones((3, 4))})
    ...         writer.add("fr/s01", {6: np.ones((2, 4))})
    ...     keys, frames = store.load(-1)  # hidden state 6 of 0..6
    ...     print(keys, frames.lengths, frames.frames.dtype)
    ['en/s01', 'fr/s01'] [3 2] float16
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.shard_dir = self.path / "shards"

    def __repr__(self) -> str:
        return f"EmbeddingStore({str(self.path)!r})"

    # ------------------------------------------------------------------ settings

    @property
    def settings(self) -> dict[str, Any] | None:
        """The settings in ``store.json``, or None where there is no store yet.

        Besides what the writer was given (``model``, ``layers``, ``dtype``,
        ``hidden_states``, ...) they hold the store's ``format`` and the ``seqsim_version``
        that made it, and the encoder's ``family`` and ``frame_seconds``, Whisper's
        (:data:`ENCODER_DEFAULTS`) where the store does not record them.

        Raises
        ------
        StoreError
            When ``path`` is a file, or ``store.json`` cannot be read (a
            :class:`~seqsim.store.StoreLinkError` where it is a symbolic link).
        StoreMismatchError
            For a store of another format version.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     print(store.settings)
        ...     with store.writer(settings):
        ...         pass
        ...     print(store.settings["format"], store.settings["layers"])
        ...     print(store.settings["family"], store.settings["frame_seconds"])
        None
        3 [6]
        whisper 0.02
        """
        file = self.path / "store.json"
        try:
            data = read_own_file(file)
            if data is None:
                if self.path.exists() and not self.path.is_dir():
                    raise StoreError(f"{self.path} is a file, not a store directory")
                return None
            settings = json.loads(data.decode("utf-8"))
        except (OSError, ValueError) as error:
            raise StoreError(f"{file}: unreadable store settings ({error})") from None
        if not isinstance(settings, dict) or settings.get("format") != FORMAT_VERSION:
            found = settings.get("format") if isinstance(settings, dict) else None
            raise StoreMismatchError(
                f"{self.path} is a store of format {found!r}, this seqsim reads format "
                f"{FORMAT_VERSION}; embed into a new directory"
            )
        unrecorded = {name: ENCODER_DEFAULTS[name] for name in ("family", "frame_seconds")}
        return {**unrecorded, **settings}

    def _claim(self, settings: Mapping[str, Any], owner: str) -> None:
        """Create the store with ``settings``, or check that it holds the same identity (its
        layers may differ: see :meth:`embed_with`)."""
        needed = ("model", "dtype", "layers", "hidden_states")
        missing = [name for name in needed if name not in settings]
        if missing:
            raise ValueError(f"store settings lack {', '.join(missing)}")
        check_choice("dtype", settings["dtype"], STORAGE_DTYPES)
        layers = settings["layers"]
        if not isinstance(layers, list) or not layers or not all(_is_count(n, 0) for n in layers):
            raise ValueError(
                f"store settings' layers must be a non-empty list of hidden-state indices "
                f"(integers >= 0), got {layers!r}"
            )
        if self.settings is None:
            make_own_folder(self.shard_dir)
            record = {"format": FORMAT_VERSION, "seqsim_version": __version__, **settings}
            text = json.dumps(record, indent=2)
            write_text_atomically(self.path / "store.json", owner, text, replace=False)
        existing = self._require_settings()
        for name in IDENTITY:
            if _identity(existing, name) != _identity(settings, name):
                raise StoreMismatchError(
                    f"{self.path} holds embeddings with {name}={_identity(existing, name)!r}, "
                    f"but {name}={_identity(settings, name)!r} was asked for; use another "
                    "store directory"
                )

    @contextmanager
    def writer(
        self,
        settings: Mapping[str, Any],
        *,
        shard_size: int = DEFAULT_SHARD_SIZE,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    ) -> Iterator[ShardWriter]:
        """A :class:`ShardWriter` for frames made with ``settings``, as a context manager.

        The first writer creates the store with ``settings``; later ones must ask for the same
        model and storage dtype. They write the layers ``settings`` name: the store's, or
        others that an embed run adds (:meth:`embed_with`; an utterance is stored once it
        holds every layer of the store). Many writers, in one process or many, may write one
        store at once. Temporary files of dead writers are removed first.

        Parameters
        ----------
        settings : mapping
            ``model``, ``layers`` (the layers written), ``dtype`` (the storage dtype,
            ``"float16"`` or ``"float32"``), ``hidden_states`` and anything else worth
            recording.
        shard_size, flush_seconds : int, float
            When a shard is flushed (see :class:`ShardWriter`).

        Yields
        ------
        ShardWriter
            The writer; its last shard is flushed when the block ends.

        Raises
        ------
        ValueError
            When ``settings`` lack one of ``model``, ``layers``, ``dtype`` and
            ``hidden_states``, or the layers, dtype or flush options are bad.
        StoreMismatchError
            When the store holds embeddings made with another model or dtype.
        StoreWriteError
            When the store cannot be written.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.writer(settings) as writer:
        ...         writer.add("en/s01", {6: np.ones((3, 4))})
        ...     with store.writer({**settings, "model": "other"}):  # doctest: +ELLIPSIS
        ...         pass
        Traceback (most recent call last):
            ...
        seqsim.store.store.StoreMismatchError: /... holds embeddings with model='toy', ...
        """
        check_flush_policy(shard_size, flush_seconds)
        with locks.owner(self.path) as owner:
            self._claim(settings, owner)
            self.remove_dead_writers_files()
            layers = settings["layers"]
            with ShardWriter(self, owner, shard_size, flush_seconds, layers) as shard_writer:
                yield shard_writer

    def remove_dead_writers_files(self) -> list[Path]:
        """Remove the temporary files of writers that died (only the store's own, by name).

        Returns
        -------
        list of pathlib.Path
            The files removed.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> from seqsim.store import EmbeddingStore
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = (Path(folder) / ".seqsim-tmp.gone-7-0000.store.json").write_text("{")
        ...     print([path.name for path in EmbeddingStore(folder).remove_dead_writers_files()])
        ['.seqsim-tmp.gone-7-0000.store.json']
        """
        refuse_link(self.shard_dir)
        folders = [self.path, self.shard_dir]
        return locks.remove_dead_owners_files(self.path, folders)

    # ------------------------------------------------------------------ shards

    def _shards(self) -> list[Path]:
        """The shard files, in name order (the order in which copies of a key compete)."""
        refuse_link(self.shard_dir)
        if not self.shard_dir.is_dir():
            return []
        return sorted(p for p in self.shard_dir.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    def _contents(self) -> list[ShardContents]:
        """Every shard's contents, checked, in name order."""
        return [read_contents(shard) for shard in self._shards()]

    def keys(self) -> list[str]:
        """Keys of every stored utterance, each once, in storage order.

        An utterance is stored once it holds every layer of the store (one that an
        interrupted embed run was giving layers it adds is stored with its old ones).

        Returns
        -------
        list of str
            Read from the shards (no consolidation needed); empty where there is no store.

        Raises
        ------
        CorruptShardError
            Naming a shard whose keys, lengths or layer headers cannot be read.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     for key in ("en/s01", "en/s01", "fr/s01"):  # two writers given one key
        ...         with store.writer(settings) as writer:
        ...             writer.add(key, {6: np.ones((3, 4))})
        ...     print(store.keys())
        ['en/s01', 'fr/s01']
        """
        settings = self.settings
        return Copies(self._contents()).holding(settings["layers"] if settings else [])

    def set_aside_corrupt_shards(self, check_frames: bool = True) -> list[Path]:
        """Move every shard that cannot be read back to ``shards/set-aside/``.

        Their utterances count as not stored (an embed run redoes them). Each one moved is
        logged as a warning.

        Parameters
        ----------
        check_frames : bool, default True
            Read (and CRC-check) every frame. Without it only keys, lengths and layer headers
            are read (fast; the frames are CRC-checked by the next consolidation).

        Returns
        -------
        list of pathlib.Path
            Where each shard went.

        Raises
        ------
        StoreWriteError
            When ``shards/set-aside/`` cannot be created.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.writer(settings) as writer:
        ...         writer.add("en/s01", {6: np.ones((3, 4))})
        ...     _ = (store.shard_dir / "junk.npz").write_bytes(b"not a zip")
        ...     moved = store.set_aside_corrupt_shards()
        ...     print([path.name for path in moved], store.keys())
        ['junk.npz'] ['en/s01']
        """
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
        """Move ``shard`` to ``shards/set-aside/``, with a warning; return where it went."""
        folder = self.shard_dir / SET_ASIDE
        make_own_folder(folder)
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
        dtype: str = DEFAULT_STORAGE_DTYPE,
        shard_size: int = DEFAULT_SHARD_SIZE,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        fail_fast: bool = False,
    ) -> EmbedReport:
        """Embed every ``(key, audio)`` not stored yet with ``embedder`` here, then consolidate.

        Shards are flushed every ``shard_size`` utterances or ``flush_seconds`` seconds,
        whichever comes first: a killed run loses at most that much work, and the next run
        resumes where it stopped. Bad audio is recorded in ``failures.jsonl`` and skipped
        (raised at once with ``fail_fast``). The rest is :meth:`embed_with`'s (one run at a
        time, corrupt shards set aside and redone, layers that ``embedder`` makes beyond the
        store's added to it).

        Parameters
        ----------
        utterances : sequence of (str, AudioInput)
            Keys (unique) and their audio.
        embedder : WhisperEmbedder
            A :class:`~seqsim.WhisperEmbedder`; its :meth:`~seqsim.WhisperEmbedder.settings`
            identify the frames. To add layers to a store, it makes the stored ones too.
        dtype : {"float16", "float32"}, default "float16"
            How frames are stored.
        shard_size, flush_seconds, fail_fast
            See :class:`EmbedderProducer`.

        Returns
        -------
        EmbedReport
            What the run did.

        Raises
        ------
        ValueError
            For a bad ``dtype`` or flush option (before anything runs) and duplicate keys.
        StoreMismatchError
            When the store holds embeddings of another model or dtype, or layers that
            ``embedder`` does not make (see :meth:`embed_with`).
        StoreBusyError
            When another embed run holds the store.
        StoreWriteError
            When the store cannot be written (a :class:`~seqsim.store.StoreFullError` on a
            full disk; finished shards are kept).
        AudioError
            With ``fail_fast``, at the first bad audio.

        Examples
        --------
        A bundled demo utterance and a silent one, embedded by the offline whisper-base; a
        second run finds nothing to do:

        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim import WhisperEmbedder
        >>> from seqsim.corpus import demo_corpus
        >>> from seqsim.store import EmbeddingStore
        >>> english = [(u.key, u.path) for u in demo_corpus().by_language("en")[:1]]
        >>> silence = ("en/silence", (np.zeros(1600), 16_000))
        >>> embedder = WhisperEmbedder("whisper-base-offline", progress=False)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     first = store.embed([*english, silence], embedder)
        ...     again = store.embed(english, embedder)
        ...     keys, frames = store.load(-1)
        >>> first.embedded, [failure["key"] for failure in first.failures]
        (1, ['en/silence'])
        >>> again.embedded, again.skipped
        (0, 1)
        >>> keys, frames.lengths, frames.dim, frames.frames.dtype
        (['en/s01'], array([151]), 512, dtype('float16'))
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
        """One embed run: ``producer`` writes what the store lacks of ``utterances``.

        The producer writes through :meth:`writer`; then the store is consolidated and
        ``failures.jsonl`` written. The producer may be this process's embedder
        (:meth:`embed`), a Ray pipeline whose actors write shards on other hosts
        (:func:`seqsim.distributed.embed_on_ray`), or any other. Keys already stored, or failed
        earlier in this run, are never given to it. A corrupt shard is set aside and its
        utterances produced again. One run at a time per store.

        **Adding layers.** Where ``settings["layers"]`` are the store's and more, the run
        adds those layers: the producer is given the new utterances with every layer, and the
        stored ones with only the layers added (see :class:`Producer`). The frames stored
        are kept as they are. Once every stored utterance holds the new layers, ``store.json``
        names them too (an atomic rewrite, after the consolidation that writes their layer
        files). Until then the store reads as before: an interrupted run leaves its old layers
        and keys, and the same run again resumes. Layers can be added only with the audio of
        every stored utterance, and a stored utterance whose audio fails now keeps the new
        layers from being added (it is in ``failures``). A run asking for fewer layers than
        the store holds is one with nothing to embed, or is refused.

        A key stored from other audio than it is given now (another file, or the same file
        with other bytes: :mod:`seqsim.provenance`) is embedded again, its old frames dropped
        first (:meth:`discard`), and listed in the report's ``changed``: stored frames are
        never reused for other audio. Keys whose audio cannot be checked are reused and listed
        in ``unchecked``.

        Parameters
        ----------
        producer : Producer
            What makes and writes the frames.
        utterances : sequence of (str, AudioInput)
            Keys (unique) and their audio.
        settings : mapping
            What the frames are made with: ``model``, ``layers``, ``dtype``,
            ``hidden_states``, ... (as :meth:`writer` takes them).

        Returns
        -------
        EmbedReport
            What the run did.

        Raises
        ------
        ValueError
            For duplicate keys, and settings :meth:`writer` refuses.
        StoreMismatchError
            When the store holds embeddings of another model or dtype; when ``settings``
            lack some of the store's layers and there is something to embed, or add layers
            while stored utterances are not given.
        StoreBusyError
            When another embed run holds the store.
        StoreWriteError
            When the store cannot be written.

        Examples
        --------
        See :class:`Producer` for a producer of one's own, and one that adds a layer.

        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> def ones(store, settings, todo, report):
        ...     with store.writer(settings) as writer:
        ...         for key, _ in todo:
        ...             writer.add(key, {6: np.ones((2, 4))})
        ...             report.embedded += 1
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     first = store.embed_with(ones, [("en/s01", "a.wav")], settings)
        ...     both = [("en/s01", "a.wav"), ("fr/s01", "b.wav")]
        ...     second = store.embed_with(ones, both, settings)
        >>> first.embedded, second.embedded, second.skipped
        (1, 1, 1)
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
                stored = self._require_settings()["layers"]
                self.remove_dead_writers_files()
                report.set_aside += [
                    str(p) for p in self.set_aside_corrupt_shards(check_frames=False)
                ]
                if attempt == 0:
                    report.changed, report.unchecked = self._audio_changes(utterances)
                plan = _plan(
                    self._copies(),
                    utterances,
                    stored,
                    settings["layers"],
                    redo={change["key"] for change in report.changed} if attempt == 0 else set(),
                    failed={failure["key"] for failure in report.failures},
                )
                self._check_plan(plan, stored, settings["layers"])
                if attempt == 0:
                    self.discard(change["key"] for change in report.changed)
                    report.skipped = len(utterances) - len(plan.new) - len(plan.lacking)
                if plan.new:
                    producer(self, {**settings, "layers": plan.layers}, plan.new, report)
                if plan.lacking:
                    producer(self, {**settings, "layers": plan.added}, plan.lacking, report)
                layers = self._held_by_all(plan)
                set_aside = self._consolidate(repair=True, layers=layers)
                report.set_aside += [str(p) for p in set_aside]
                if not set_aside:
                    report.layers_added = plan.added if layers == plan.layers else []
                    break
            lines = "".join(json.dumps(failure) + "\n" for failure in report.failures)
            with locks.owner(self.path) as owner:
                write_text_atomically(self.path / "failures.jsonl", owner, lines)
        return report

    def _copies(self) -> Copies:
        """Every copy of every key in the shards (:class:`~seqsim.store.copies.Copies`)."""
        return Copies(self._contents())

    def _check_plan(self, plan: _Plan, stored: list[int], asked: list[int]) -> None:
        """Refuse a run whose layers lack some of the store's while it has something to embed,
        and a run that adds layers without the audio of every stored utterance."""
        if not set(stored) <= set(asked):
            if set(asked) - set(stored):
                raise StoreMismatchError(
                    f"{self.path} holds embeddings with layers={stored!r}, but "
                    f"layers={asked!r} was asked for; to add layers, ask for the stored ones "
                    f"too: layers={plan.layers!r}"
                )
            if plan.new:
                raise StoreMismatchError(
                    f"{self.path} holds embeddings with layers={stored!r}, but "
                    f"layers={asked!r} was asked for: the {len(plan.new)} utterance(s) to "
                    f"embed (e.g. {[key for key, _ in plan.new[:3]]}) need every stored "
                    f"layer; ask for layers={stored!r}, or more to add layers"
                )
        if plan.not_given:
            raise StoreMismatchError(
                f"{self.path}: adding layers {plan.added} needs the audio of every stored "
                f"utterance, but {len(plan.not_given)} are not given (e.g. "
                f"{plan.not_given[:3]}); give them too, or drop them first with "
                "EmbeddingStore.discard(keys)"
            )

    def _held_by_all(self, plan: _Plan) -> list[int]:
        """The layers of ``plan`` where every stored utterance holds them all now, else the
        store's (with a warning that says how many utterances lack the layers added)."""
        stored = self._require_settings()["layers"]
        if not plan.added:
            return stored
        copies = self._copies()
        lacking = len(copies.holding(stored)) - len(copies.holding(plan.layers))
        if not lacking:
            return plan.layers
        logger.warning(
            "%s: layers %s not added yet: %d stored utterance(s) lack them (see "
            "failures.jsonl); the store reads as before, and the same run again adds them",
            self.path,
            plan.added,
            lacking,
        )
        return stored

    # ------------------------------------------------------------------ provenance

    def sources(self) -> dict[str, dict[str, Any] | None]:
        """For every stored key, the identity of the audio its frames were made from.

        Returns
        -------
        dict of str to dict or None
            Keys in storage order, each with the record of its first copy
            (:func:`seqsim.provenance.identify`), or None where the frames were written
            without one.

        Raises
        ------
        CorruptShardError
            Naming a shard that cannot be read.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.writer(settings) as writer:
        ...         writer.add("en/s01", {6: np.ones((3, 4))}, {"sha256": "ab12"})
        ...         writer.add("fr/s01", {6: np.ones((2, 4))})
        ...     print(store.sources())
        {'en/s01': {'sha256': 'ab12'}, 'fr/s01': None}
        """
        try:
            contents = self._contents()
        except CorruptShardError as error:
            raise CorruptShardError(error.path, error.problem, _REPAIR) from None
        first: dict[str, dict[str, Any] | None] = {}
        for shard in contents:
            for key, source in zip(shard.keys, shard.sources, strict=True):
                first.setdefault(key, source)
        return first

    def _audio_changes(
        self, utterances: Sequence[tuple[str, AudioInput]]
    ) -> tuple[list[dict[str, str]], list[str]]:
        """The stored keys whose audio is not the audio given now (key, stored, given), and
        those that cannot be checked: stored without a record of their audio, or recorded
        from a file that is gone from the very path given now."""
        stored = self.sources()
        changed: list[dict[str, str]] = []
        unchecked: list[str] = []
        for key, source in utterances:
            if key not in stored:
                continue
            record = stored[key]
            if record is None:
                unchecked.append(key)
                continue
            try:
                identity = identify(source, known=record)
            except AudioError as error:
                given_path = (
                    str(Path(source).absolute()) if isinstance(source, (str, Path)) else None
                )
                if given_path is not None and given_path == record.get("path"):
                    unchecked.append(key)
                else:
                    change = {"key": key, "stored": describe_record(record), "given": str(error)}
                    changed.append(change)
                continue
            if not same_audio(record, identity):
                change = {
                    "key": key,
                    "stored": describe_record(record),
                    "given": describe_record(identity),
                }
                changed.append(change)
        return changed, unchecked

    def check_audio(self, utterances: Sequence[tuple[str, AudioInput]]) -> list[str]:
        """Check that the stored frames of ``utterances`` were made from the audio given.

        What an evaluation that reads a store without a model to embed with does first: a
        key stored from other audio (another file, or the same file changed) is refused, never
        scored with the old frames. Files at their recorded path, size and modification time
        are not read (:mod:`seqsim.provenance`).

        Parameters
        ----------
        utterances : sequence of (str, AudioInput)
            Keys and the audio they stand for; keys the store lacks are not checked.

        Returns
        -------
        list of str
            The keys that could not be checked (see :attr:`EmbedReport.unchecked`).

        Raises
        ------
        AudioChangedError
            Naming the store, how many keys changed, and the first ones with both audio.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.provenance import identify
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> spoken, other = (np.full(1600, 0.1), 16_000), (np.full(1600, 0.2), 16_000)
        >>> folder = tempfile.TemporaryDirectory()
        >>> store = EmbeddingStore(folder.name)
        >>> with store.writer(settings) as writer:
        ...     writer.add("en/s01", {6: np.ones((3, 4))}, identify(spoken))
        >>> store.check_audio([("en/s01", spoken)])
        []
        >>> store.check_audio([("en/s01", other)])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        seqsim.store.store.AudioChangedError: /... holds 1 utterance(s) made from other audio \
than given now: en/s01 was in-memory audio ..., is now in-memory audio ...; ...
        >>> folder.cleanup()
        """
        changed, unchecked = self._audio_changes(utterances)
        if changed:
            raise AudioChangedError(self.path, changed)
        return unchecked

    def discard(self, keys: Iterable[str]) -> list[str]:
        """Remove every copy of ``keys`` from the store (an embed run can then add them again).

        Each shard that holds one of them is written again without them, under a new name,
        before the old one is removed: an interruption leaves either copy, never neither.
        Readers wait while it runs.

        Parameters
        ----------
        keys : iterable of str
            The keys to remove; keys the store lacks are ignored.

        Returns
        -------
        list of str
            The keys removed, sorted.

        Raises
        ------
        CorruptShardError
            Naming a shard that cannot be read.
        StoreWriteError
            When a shard cannot be written.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.writer(settings) as writer:
        ...         for key in ("en/s01", "fr/s01", "de/s01"):
        ...             writer.add(key, {6: np.ones((2, 4))})
        ...     print(store.discard(["fr/s01", "xx/s99"]), store.keys())
        ['fr/s01'] ['en/s01', 'de/s01']
        """
        unwanted = set(keys)
        removed: set[str] = set()
        if not unwanted or self.settings is None:
            return []
        with (
            locks.shared_or_exclusive(self.path / "consolidate.lock", exclusive_lock=True),
            locks.owner(self.path) as owner,
        ):
            for number, contents in enumerate(self._contents()):
                dropped = [row for row, key in enumerate(contents.keys) if key in unwanted]
                if not dropped:
                    continue
                removed.update(contents.keys[row] for row in dropped)
                kept = [row for row in range(len(contents.keys)) if row not in set(dropped)]
                if kept:
                    _write_new_shard(self, owner, number, *_rows_of(contents, kept))
                contents.path.unlink()
        return sorted(removed)

    # ------------------------------------------------------------------ reading

    def _require_settings(self) -> dict[str, Any]:
        """The settings, or a :class:`StoreError` where there is no store."""
        settings = self.settings
        if settings is None:
            raise StoreError(f"{self.path} is not an embedding store (no store.json)")
        return settings

    def consolidate(self) -> None:
        """Write ``layer_K.npy`` and ``index.json`` from the shards (skipped when up to date).

        The first copy of every key is kept. Readers wait while it writes (and it waits for
        them); a store that is up to date is read without writing anything, so a read-only
        store can be read.

        Raises
        ------
        StoreError
            When there is no store at ``path``.
        CorruptShardError
            Naming a shard that cannot be read; an embed run sets such a shard aside and
            embeds its utterances again (or call :meth:`set_aside_corrupt_shards`).
        StoreCorruptError
            Naming ``index.json``, when it is damaged, and how to rebuild it.
        StoreWriteError
            When the files cannot be written.
        StoreLinkError
            Naming a symbolic link found in place of a file of the store's own.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.writer(settings) as writer:
        ...         writer.add("en/s01", {6: np.ones((3, 4))})
        ...     store.consolidate()
        ...     print((store.path / "layer_6.npy").is_file(), (store.path / "index.json").is_file())
        True True
        """
        self._consolidate(repair=False)

    def _consolidate(self, repair: bool, layers: list[int] | None = None) -> list[Path]:
        """Consolidate the store's layers, or ``layers`` (the store's and those every stored
        utterance holds now: ``store.json`` then names them). With ``repair``, a corrupt shard
        found is set aside instead of raised: returns where it went."""
        settings = self._require_settings()
        target = settings if layers is None else {**settings, "layers": layers}
        if target == settings and self._index_is_current(settings):
            return []  # also what lets a read-only store be read
        with locks.shared_or_exclusive(self.path / "consolidate.lock", exclusive_lock=True):
            if target == settings and self._index_is_current(settings):
                return []
            with locks.owner(self.path) as owner:
                try:
                    if not self._index_is_current(target):
                        contents, previous = self._contents(), self._read_index()
                        _consolidate(self.path, owner, contents, target, previous)
                except CorruptShardError as error:
                    if repair:
                        return [self._set_aside(error.path, error)]
                    raise CorruptShardError(error.path, error.problem, _REPAIR) from None
                if target != settings:
                    text = json.dumps(target, indent=2)
                    write_text_atomically(self.path / "store.json", owner, text)
        return []

    def _index_is_current(self, settings: Mapping[str, Any]) -> bool:
        """Whether ``index.json`` names the current shards, and every layer file exists and
        has its checksum recorded (an index of a seqsim that recorded none is rewritten)."""
        index = self._read_index()
        if index is None or index["shards"] != [shard.name for shard in self._shards()]:
            return False
        checksums = index.get("crc32", {})
        return all(
            str(layer) in checksums and os.path.lexists(_layer_file(self.path, layer))
            for layer in settings["layers"]
        )

    def _read_index(self) -> dict[str, Any] | None:
        """``index.json``, checked, or None where it is missing."""
        file = self.path / "index.json"
        try:
            data = read_own_file(file)
        except OSError as error:
            raise StoreError(f"{file}: cannot read it ({error.strerror})") from None
        if data is None:
            return None
        try:
            index = json.loads(data.decode("utf-8"))
        except ValueError as error:
            raise StoreCorruptError(file, f"not JSON: {error}", self._rebuild_advice()) from None
        problem = index_problem(index)
        if problem is not None:
            raise StoreCorruptError(file, problem, self._rebuild_advice())
        return index

    def _rebuild_advice(self) -> str:
        """How to rebuild a damaged ``index.json`` or layer file: from the shards, if any."""
        shards = len(self._shards())
        if not shards:
            return (
                f"{self.shard_dir} holds no shards to rebuild it from: embed the utterances again"
            )
        return (
            "remove it and load again: the next consolidation writes it again from the "
            f"{shards} shard(s) in {self.shard_dir}"
        )

    def load(self, layer: int, *, verify: bool = True) -> tuple[list[str], PackedSequences]:
        """Keys and memory-mapped frames of ``layer`` for every stored utterance.

        Consolidates first if shards were added. The frames are read-only, in the storage
        dtype, and carry their file (:class:`~seqsim.sequences.MappedFile`): a pickle of
        them sent to another process maps the file again there. The layer file is checked
        against ``index.json`` (header, size and, the first time this process loads it, its
        CRC-32: :func:`~seqsim.store.layers.open_layer`).

        Parameters
        ----------
        layer : int
            A hidden-state index the store holds; negative counts from the last hidden state.
        verify : bool, default True
            Check the layer file's CRC-32 the first time this process loads it (a read of
            the whole file). False trusts it: damaged frames would be read as they are.

        Returns
        -------
        tuple of (list of str, PackedSequences)
            The keys and their frames, in storage order.

        Raises
        ------
        StoreError
            When there is no store, or it holds no embeddings yet.
        StoreCorruptError
            Naming the layer file or ``index.json``, when it is damaged (a checksum or header
            that does not match, garbage), and how to rebuild it from the shards.
        StoreMismatchError
            When the store does not hold ``layer``.
        StoreLinkError
            Naming a symbolic link found in place of a file of the store's own.
        CorruptShardError
            As :meth:`consolidate` raises it.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.writer(settings) as writer:
        ...         writer.add("en/s01", {6: np.arange(8).reshape(2, 4)})
        ...     keys, frames = store.load(6)
        ...     print(keys, frames[0].tolist())
        ['en/s01'] [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
        """
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
        with locks.shared_or_exclusive(self.path / "consolidate.lock", exclusive_lock=False):
            index = self._read_index()
            if index is None or not index["keys"]:
                raise StoreError(f"{self.path} holds no embeddings yet")
            frames, mapped = open_layer(
                _layer_file(self.path, layer),
                sum(index["lengths"]),
                np.dtype(settings["dtype"]),
                index["crc32"][str(layer)],
                self._rebuild_advice(),
                verify=verify,
            )
        packed = PackedSequences.from_lengths(frames, index["lengths"])
        return index["keys"], PackedSequences(packed.frames, packed.offsets, mapped)


def _rows_of(
    contents: ShardContents, rows: list[int]
) -> tuple[list[str], np.ndarray, dict[int, np.ndarray], list[dict[str, Any] | None]]:
    """The keys, lengths, frames of every layer and sources of some rows of a shard."""
    offsets = np.concatenate([[0], np.cumsum(contents.lengths)])
    layers = {}
    for layer in contents.dims:
        frames = read_layer(contents.path, layer)
        layers[layer] = np.concatenate([frames[offsets[row] : offsets[row + 1]] for row in rows])
    return (
        [contents.keys[row] for row in rows],
        contents.lengths[rows],
        layers,
        [contents.sources[row] for row in rows],
    )


def _layer_file(store: Path, layer: int) -> Path:
    """Where the consolidated frames of ``layer`` are in the store at ``store``."""
    return store / f"layer_{layer}.npy"


def index_problem(index: Any) -> str | None:
    """What is wrong with the contents of an ``index.json``, or None where nothing is.

    Parameters
    ----------
    index : Any
        The parsed JSON.

    Returns
    -------
    str or None
        The first problem found: ``keys`` and ``shards`` must be lists of strings (the keys
        unique), ``lengths`` one count (an integer >= 0) per key, and ``crc32``, where present,
        a CRC-32 (an integer of 32 bits) per layer.

    Examples
    --------
    >>> from seqsim.store.store import index_problem
    >>> print(index_problem({"keys": ["a"], "lengths": [3], "shards": ["x.npz"],
    ...                      "crc32": {"6": 12345}}))
    None
    >>> index_problem({"keys": ["a", "b"], "lengths": [3], "shards": []})
    'it gives 1 length(s) for 2 key(s)'
    """
    if not isinstance(index, dict):
        return f"not a JSON object but {type(index).__name__}"
    keys, lengths, shards = index.get("keys"), index.get("lengths"), index.get("shards")
    if not _is_strings(keys):
        return "its keys are not a list of strings"
    if not _is_strings(shards):
        return "its shards are not a list of strings"
    if len(set(keys)) != len(keys):
        return "its keys are not unique"
    if not isinstance(lengths, list) or not all(_is_count(n, 0) for n in lengths):
        return "its lengths are not a list of integers >= 0"
    if len(lengths) != len(keys):
        return f"it gives {len(lengths)} length(s) for {len(keys)} key(s)"
    checksums = index.get("crc32", {})
    if not isinstance(checksums, dict) or not all(
        _is_count(value, 0, 2**32) for value in checksums.values()
    ):
        return "its crc32 is not a CRC-32 per layer"
    return None


def _is_strings(value: Any) -> TypeGuard[list[str]]:
    """Whether ``value`` is a list of strings."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_count(value: Any, low: int, high: float = float("inf")) -> bool:
    """Whether ``value`` is an int (not a bool) with ``low <= value < high``."""
    return type(value) is int and low <= value < high


def _consolidate(
    path: Path,
    owner: str,
    contents: list[ShardContents],
    settings: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
) -> None:
    """Write every layer's frames (each key's first copy of it), then the index naming them.

    Only keys that hold every layer are written. A layer file that the ``previous`` index
    describes and that would come out the same is kept as it is."""
    copies = Copies(contents)
    layers = settings["layers"]
    keys = copies.holding(layers)
    lengths = copies.lengths(keys, layers)
    kept = _unchanged_layers(path, previous, contents, keys, lengths, layers)
    dtype = np.dtype(settings["dtype"])
    checksums = {}
    for layer in layers:
        if layer in kept:
            checksums[str(layer)] = kept[layer]
        else:
            pieces = copies.pieces(keys, layer)
            target = _layer_file(path, layer)
            checksums[str(layer)] = write_layer(target, owner, layer, contents, pieces, dtype)
    index = {
        "keys": keys,
        "lengths": lengths,
        "shards": [shard.path.name for shard in contents],
        "crc32": checksums,
    }
    write_text_atomically(path / "index.json", owner, json.dumps(index))


def _unchanged_layers(
    path: Path,
    previous: Mapping[str, Any] | None,
    contents: list[ShardContents],
    keys: list[str],
    lengths: list[int],
    layers: list[int],
) -> dict[int, int]:
    """The CRC-32 of each layer file that the ``previous`` consolidation wrote as this one
    would: the same keys and lengths, no shard gone since, and none added since that holds
    the layer."""
    if previous is None or previous["keys"] != keys or previous["lengths"] != lengths:
        return {}
    before = set(previous["shards"])
    if not before <= {shard.path.name for shard in contents}:
        return {}
    added = [shard for shard in contents if shard.path.name not in before]
    return {
        layer: previous["crc32"][str(layer)]
        for layer in layers
        if str(layer) in previous.get("crc32", {})
        and os.path.lexists(_layer_file(path, layer))
        and not any(layer in shard.dims for shard in added)
    }
