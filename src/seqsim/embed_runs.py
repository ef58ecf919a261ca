"""Embed runs: what fills an embedding store (:class:`~seqsim.store.EmbeddingStore`).

An embed run finds what a store lacks of some utterances, has a :class:`Producer` make and
write it (this process's embedder, :class:`EmbedderProducer`, through :func:`embed`; a Ray
pipeline, :func:`seqsim.distributed.embed_on_ray`; or one of your own, through
:func:`embed_with`), then consolidates the store and writes its ``failures.jsonl``. The store
itself only stores: it knows nothing of audio or encoders.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ._defaults import (
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_SHARD_SIZE,
    DEFAULT_STORAGE_DTYPE,
    STORAGE_DTYPES,
)
from .audio import AudioError, AudioInput, describe, short_audio_note
from .checks import check_choice
from .provenance import audio_changes, identify
from .store import EmbeddingStore, StoreMismatchError
from .store.copies import Copies
from .store.store import IDENTITY, check_flush_policy, identity_setting

__all__ = [
    "EmbedReport",
    "EmbedderProducer",
    "Producer",
    "embed",
    "embed_with",
    "failure_record",
]

logger = logging.getLogger(__name__)


@dataclass
class EmbedReport:
    """What one :func:`embed` (or :func:`embed_with`) run did.

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
    >>> from seqsim.embed_runs import EmbedReport
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


class Producer(Protocol):
    """What :func:`embed_with` runs to make the frames of an embed run.

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
    >>> from seqsim.embed_runs import embed_with
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
    ...     first = embed_with(store, zeros, [("a", "a.wav")], settings)
    ...     both = [("a", "a.wav"), ("b", "b.wav")]
    ...     second = embed_with(store, zeros, both, {**settings, "layers": [0, 1]})
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
            :meth:`EmbeddingStore.writer <seqsim.store.EmbeddingStore.writer>`.
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
    >>> from seqsim.embed_runs import failure_record
    >>> failure_record("en/s01", "en/s01.wav", AudioError("en/s01.wav: file not found"))
    {'key': 'en/s01', 'source': 'en/s01.wav', 'reason': 'en/s01.wav: file not found'}
    """
    return {"key": key, "source": describe(source), "reason": str(error)}


@dataclass
class EmbedderProducer:
    """The :class:`Producer` that embeds in this process, through one
    :class:`~seqsim.store.ShardWriter`.

    :func:`embed` uses it.

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
        When the writer flushes a shard (see :class:`~seqsim.store.ShardWriter`).
    fail_fast : bool, default False
        Raise the first :class:`~seqsim.audio.AudioError` instead of recording it.

    Examples
    --------
    With a stand-in embedder that gives two frames of ones for every utterance:

    >>> import torch
    >>> from seqsim.encoders import Embedding
    >>> from seqsim.embed_runs import EmbedderProducer, embed_with
    >>> from seqsim.store import EmbeddingStore
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
    ...     report = embed_with(store, EmbedderProducer(Ones()), audio, settings)
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
            f"{name}={identity_setting(made, name)!r}, "
            f"not the planned {identity_setting(settings, name)!r}"
            for name in IDENTITY
            if identity_setting(made, name) != identity_setting(settings, name)
        ]
        lacking = sorted(set(settings["layers"]) - set(made.get("layers", ())))
        if lacking:
            problems.append(f"layers={made.get('layers')!r}, without the planned {lacking}")
        if problems:
            raise StoreMismatchError(
                f"the embedder made for {store.path} has " + "; ".join(problems)
            )
        return self._made


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


def _check_plan(path: Path, plan: _Plan, stored: list[int], asked: list[int]) -> None:
    """Refuse a run whose layers lack some of those of the store at ``path`` while it has
    something to embed, and a run that adds layers without the audio of every stored
    utterance."""
    if not set(stored) <= set(asked):
        if set(asked) - set(stored):
            raise StoreMismatchError(
                f"{path} holds embeddings with layers={stored!r}, but "
                f"layers={asked!r} was asked for; to add layers, ask for the stored ones "
                f"too: layers={plan.layers!r}"
            )
        if plan.new:
            raise StoreMismatchError(
                f"{path} holds embeddings with layers={stored!r}, but "
                f"layers={asked!r} was asked for: the {len(plan.new)} utterance(s) to "
                f"embed (e.g. {[key for key, _ in plan.new[:3]]}) need every stored "
                f"layer; ask for layers={stored!r}, or more to add layers"
            )
    if plan.not_given:
        raise StoreMismatchError(
            f"{path}: adding layers {plan.added} needs the audio of every stored "
            f"utterance, but {len(plan.not_given)} are not given (e.g. "
            f"{plan.not_given[:3]}); give them too, or drop them first with "
            "EmbeddingStore.discard(keys)"
        )


def _held_by_all(store: EmbeddingStore, plan: _Plan) -> list[int]:
    """The layers of ``plan`` where every stored utterance of ``store`` holds them all now,
    else the store's (with a warning that says how many utterances lack the layers added)."""
    stored = store.require_settings()["layers"]
    if not plan.added:
        return stored
    copies = store.copies()
    lacking = len(copies.holding(stored)) - len(copies.holding(plan.layers))
    if not lacking:
        return plan.layers
    logger.warning(
        "%s: layers %s not added yet: %d stored utterance(s) lack them (see "
        "failures.jsonl); the store reads as before, and the same run again adds them",
        store.path,
        plan.added,
        lacking,
    )
    return stored


def embed(
    store: EmbeddingStore,
    utterances: Sequence[tuple[str, AudioInput]],
    embedder: Any,
    *,
    dtype: str = DEFAULT_STORAGE_DTYPE,
    shard_size: int = DEFAULT_SHARD_SIZE,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    fail_fast: bool = False,
) -> EmbedReport:
    """Embed every ``(key, audio)`` not in ``store`` yet with ``embedder`` here, then
    consolidate.

    Shards are flushed every ``shard_size`` utterances or ``flush_seconds`` seconds,
    whichever comes first: a killed run loses at most that much work, and the next run
    resumes where it stopped. Bad audio is recorded in ``failures.jsonl`` and skipped
    (raised at once with ``fail_fast``). The rest is :func:`embed_with`'s (one run at a
    time, corrupt shards set aside and redone, layers that ``embedder`` makes beyond the
    store's added to it).

    Parameters
    ----------
    store : EmbeddingStore
        The store to fill (resumable).
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
        ``embedder`` does not make (see :func:`embed_with`).
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
    >>> from seqsim.embed_runs import embed
    >>> from seqsim.store import EmbeddingStore
    >>> english = [(u.key, u.path) for u in demo_corpus().by_language("en")[:1]]
    >>> silence = ("en/silence", (np.zeros(1600), 16_000))
    >>> embedder = WhisperEmbedder("whisper-base-offline", progress=False)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = EmbeddingStore(folder)
    ...     first = embed(store, [*english, silence], embedder)
    ...     again = embed(store, english, embedder)
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
    return embed_with(store, producer, utterances, {**embedder.settings(), "dtype": dtype})


def embed_with(
    store: EmbeddingStore,
    producer: Producer,
    utterances: Sequence[tuple[str, AudioInput]],
    settings: Mapping[str, Any],
) -> EmbedReport:
    """One embed run: ``producer`` writes what ``store`` lacks of ``utterances``.

    The producer writes through :meth:`EmbeddingStore.writer
    <seqsim.store.EmbeddingStore.writer>`; then the store is consolidated and
    ``failures.jsonl`` written. The producer may be this process's embedder (:func:`embed`),
    a Ray pipeline whose actors write shards on other hosts
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
    first (:meth:`EmbeddingStore.discard <seqsim.store.EmbeddingStore.discard>`), and
    listed in the report's ``changed``: stored frames are never reused for other audio.
    Keys whose audio cannot be checked are reused and listed in ``unchecked``.

    Parameters
    ----------
    store : EmbeddingStore
        The store to fill (created where missing; resumed where it holds some keys).
    producer : Producer
        What makes and writes the frames.
    utterances : sequence of (str, AudioInput)
        Keys (unique) and their audio.
    settings : mapping
        What the frames are made with: ``model``, ``layers``, ``dtype``,
        ``hidden_states``, ... (as :meth:`EmbeddingStore.writer
        <seqsim.store.EmbeddingStore.writer>` takes them).

    Returns
    -------
    EmbedReport
        What the run did.

    Raises
    ------
    ValueError
        For duplicate keys, and settings the store's writer refuses.
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
    >>> from seqsim.embed_runs import embed_with
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
    >>> def ones(store, settings, todo, report):
    ...     with store.writer(settings) as writer:
    ...         for key, _ in todo:
    ...             writer.add(key, {6: np.ones((2, 4))})
    ...             report.embedded += 1
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = EmbeddingStore(folder)
    ...     first = embed_with(store, ones, [("en/s01", "a.wav")], settings)
    ...     both = [("en/s01", "a.wav"), ("fr/s01", "b.wav")]
    ...     second = embed_with(store, ones, both, settings)
    >>> first.embedded, second.embedded, second.skipped
    (1, 1, 1)
    """
    counts = Counter(key for key, _ in utterances)
    duplicates = sorted(key for key, count in counts.items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate utterance keys: {duplicates[:5]}")
    report = EmbedReport()
    with store.embed_run_lock():
        for attempt in range(3):  # a shard found corrupt while consolidating: another round
            store.claim(settings)
            stored = store.require_settings()["layers"]
            store.remove_dead_writers_files()
            report.set_aside += [str(p) for p in store.set_aside_corrupt_shards(check_frames=False)]
            if attempt == 0:
                report.changed, report.unchecked = audio_changes(store, utterances)
            plan = _plan(
                store.copies(),
                utterances,
                stored,
                settings["layers"],
                redo={change["key"] for change in report.changed} if attempt == 0 else set(),
                failed={failure["key"] for failure in report.failures},
            )
            _check_plan(store.path, plan, stored, settings["layers"])
            if attempt == 0:
                store.discard(change["key"] for change in report.changed)
                report.skipped = len(utterances) - len(plan.new) - len(plan.lacking)
            if plan.new:
                producer(store, {**settings, "layers": plan.layers}, plan.new, report)
            if plan.lacking:
                producer(store, {**settings, "layers": plan.added}, plan.lacking, report)
            layers = _held_by_all(store, plan)
            set_aside = store.consolidate_or_set_aside(layers)
            report.set_aside += [str(p) for p in set_aside]
            if not set_aside:
                report.layers_added = plan.added if layers == plan.layers else []
                break
        store.write_failures(report.failures)
    return report
