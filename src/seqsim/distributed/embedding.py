"""Embedding a corpus on a Ray cluster: a Ray Data pipeline whose encoder actors write shards
into one store.

Manifest rows (the keys not stored yet: the store drops the rest before any audio is read) ->
decoding and resampling in Ray tasks -> a pool of actors, each holding one
:class:`~seqsim.encoders.SpeechEncoder` (one model load per actor, on a GPU when it has one) that
encodes a batch and writes it into the store through :meth:`EmbeddingStore.writer` -> one
small row per utterance back to this process (stored, or why it failed). The run around it,
lock, resumption, corrupt shards, consolidation and ``failures.jsonl``, is the store's
(:func:`~seqsim.embed_runs.embed_with`), as for a local run.

A Ray task or actor that dies is retried by Ray; what it had flushed stays in the store and
what it redoes is read once (the first copy of a key wins), so the store ends with every
utterance exactly once.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import audio as audio_io
from .._defaults import DEFAULT_LAYER, DEFAULT_STORAGE_DTYPE, PLUGIN_MODULE_PREFIX, RAY_SHARD_SIZE
from ..audio import SAMPLE_RATE, AudioError, AudioInput, short_audio_note
from ..checks import check_choice, check_count, check_flag
from ..embed_runs import EmbedReport, embed_with, failure_record
from ..encoders import EncoderSpec, LayerSelection, encoder_spec
from ..progress import progress_bar
from ..provenance import identify
from ..store import EmbeddingStore, StoreError
from ..store.store import DEFAULT_FLUSH_SECONDS, STORAGE_DTYPES, check_flush_policy
from .cluster import RayCluster, cluster_session, require_ray, use_cpus

BATCHES_PER_WORKER = 8
"""A run too small for that many batches of ``shard_size`` per actor gets smaller batches, so
that the actors finish together."""
WORKERS_PER_DECODER = 2
"""Encoder actors per decoding task in flight. Decoding costs about 1 % of encoding on a CPU
(a few % of it on a GPU), so its tasks reserve no CPU of their own (the actors may take every
core) and are bounded by this instead; each task process imports seqsim once (~2 s)."""


@dataclass
class RayProducer:
    """An embed run's producer (:class:`~seqsim.embed_runs.Producer`) on a Ray cluster.

    Called by :func:`~seqsim.embed_runs.embed_with` with the utterances not stored yet: it
    stops the cluster's scoring workers, runs the Ray Data pipeline, counts what the actors
    wrote and records failures in the report, then checks that the store, as this process
    sees it, holds what the workers wrote (:func:`check_written`).

    Parameters
    ----------
    cluster : RayCluster
        Where the pipeline runs (``cluster.worker_count()`` encoder actors).
    encoder : EncoderSpec
        The encoder each actor loads once.
    run_options : dict
        The options each actor's encoder is loaded with (layers, device, dtype, batch size).
    shard_size, flush_seconds
        The flush policy of each actor's store writer (and its batch size at most).
    fail_fast : bool, default False
        Raise :class:`~seqsim.audio.AudioError` at the first bad audio instead of recording it.
    progress : bool, default True
        Show a progress bar (with utterances per second).
    """

    cluster: RayCluster
    encoder: EncoderSpec
    run_options: dict[str, Any]
    shard_size: int = RAY_SHARD_SIZE
    flush_seconds: float = DEFAULT_FLUSH_SECONDS
    fail_fast: bool = False
    progress: bool = True

    def __call__(
        self,
        store: EmbeddingStore,
        settings: Mapping[str, Any],
        todo: list[tuple[str, AudioInput]],
        report: EmbedReport,
    ) -> None:
        self.cluster.stop_scoring_workers()  # the encoder actors need what they reserve
        workers = self.cluster.worker_count()
        sources = dict(todo)
        written: dict[str, list[str]] = defaultdict(list)
        bar = progress_bar(
            total=len(todo),
            desc=f"embedding ({workers} workers)",
            unit="utt",
            disable=not self.progress,
        )
        started = time.perf_counter()
        with bar:
            for batch in self._pipeline(store, settings, todo, workers).iter_batches(
                batch_size=None, batch_format="numpy"
            ):
                for key, reason, short, host in zip(
                    batch["key"], batch["error"], batch["short"], batch["host"], strict=True
                ):
                    if not reason:
                        written[str(host)].append(str(key))
                        report.embedded += 1
                        if short:
                            source = audio_io.describe(sources[str(key)])
                            note = {"key": str(key), "source": source, "reason": str(short)}
                            report.short.append(note)
                        continue
                    error = AudioError(str(reason))
                    if self.fail_fast:
                        raise error
                    report.failures.append(failure_record(str(key), sources[str(key)], error))
                bar.update(len(batch["key"]))
                elapsed = time.perf_counter() - started
                bar.set_postfix(utt_per_s=f"{bar.n / elapsed:.2f}", refresh=False)
        check_written(store, written)

    def _pipeline(
        self,
        store: EmbeddingStore,
        settings: Mapping[str, Any],
        todo: list[tuple[str, AudioInput]],
        workers: int,
    ) -> Any:
        """The Ray Data pipeline: rows -> decoding tasks -> encoder actors -> result rows."""
        data = require_ray("ray.data")
        context = data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        # on a small run, smaller batches: every actor gets several
        per_call = max(1, min(self.shard_size, -(-len(todo) // (BATCHES_PER_WORKER * workers))))
        # absolute paths: a worker does not run in this process's working directory
        rows = [{"key": key, "path": os.path.abspath(str(source))} for key, source in todo]
        return (
            data.from_items(rows)
            .map_batches(
                decode_batch,
                batch_size=per_call,
                num_cpus=0,
                compute=data.TaskPoolStrategy(size=-(-workers // WORKERS_PER_DECODER)),
            )
            .map_batches(
                EncoderActor,
                batch_size=per_call,
                fn_constructor_kwargs={
                    "store_path": os.path.abspath(store.path),
                    "storage_dtype": settings["dtype"],
                    "layers": settings["layers"],
                    "encoder": self.encoder,
                    "run_options": self.run_options,
                    "shard_size": self.shard_size,
                    "flush_seconds": self.flush_seconds,
                    "cpus": self.cluster.cpus_per_worker,
                },
                compute=data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
                **self.cluster.resources_per_worker(),
            )
        )


def check_written(store: EmbeddingStore, written: Mapping[str, Sequence[str]]) -> None:
    """Check that ``store``, as this process sees it, holds what the workers wrote.

    Parameters
    ----------
    store : EmbeddingStore
        The store of the run.
    written : mapping of str to sequence of str
        Host name -> the keys the workers on that host wrote.

    Raises
    ------
    seqsim.store.StoreError
        Where utterances that workers wrote are not in ``store`` as this process sees it:
        the workers of those hosts wrote into a folder of the same name that is not this one
        (a local disk, not a shared filesystem). The message names the hosts, the count and
        a few keys.
    """
    stored = set(store.keys())
    lost = {host: [key for key in keys if key not in stored] for host, keys in written.items()}
    lost = {host: keys for host, keys in lost.items() if keys}
    if lost:
        count = sum(map(len, lost.values()))
        example = next(iter(lost.values()))[:3]
        raise StoreError(
            f"{count} utterance(s) that workers on {', '.join(sorted(lost))} wrote are not in "
            f"{store.path} as this machine sees it (e.g. {example}): the store must be on a "
            "filesystem that every node of the cluster sees at the same path"
        )


def decode_batch(batch: dict[str, np.ndarray]) -> dict[str, Any]:
    """Audio files as checked mono float32 at 16 kHz, with the identity of each file
    (:func:`~seqsim.provenance.identify`, as JSON), or an empty array and the reason where a
    file cannot be used: the decoding step of the pipeline.

    Parameters
    ----------
    batch : dict of str to numpy.ndarray
        ``key`` and ``path`` columns.

    Returns
    -------
    dict
        ``key``, ``samples`` (one array per file), ``source`` (its identity as JSON, ``""``
        where it failed) and ``error`` (``""`` where decoded).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.corpus import demo_corpus
    >>> from seqsim.distributed.embedding import decode_batch
    >>> key, path = demo_corpus().audio_items()[0]
    >>> batch = {"key": np.array([key, "gone"]), "path": np.array([str(path), "/gone.wav"])}
    >>> decoded = decode_batch(batch)
    >>> decoded["samples"][0].dtype, decoded["samples"][0].ndim, len(decoded["samples"][1])
    (dtype('float32'), 1, 0)
    >>> list(decoded["error"])
    ['', '/gone.wav: file not found']
    """
    samples, identities, errors = [], [], []
    for path in batch["path"]:
        try:
            identity = json.dumps(identify(str(path)))
            samples.append(audio_io.load(str(path)))
            identities.append(identity)
            errors.append("")
        except AudioError as error:
            samples.append(np.zeros(0, np.float32))
            identities.append("")
            errors.append(str(error))
    return {
        "key": batch["key"],
        "samples": samples,
        "source": np.array(identities, dtype=object),
        "error": np.array(errors, dtype=object),
    }


class EncoderActor:
    """One Ray actor of the pipeline: an encoder (:class:`~seqsim.encoders.EncoderSpec`),
    loaded once, that encodes decoded batches and writes the layers of this call into the
    store (all of them for utterances new to it, those it gains for the stored ones)."""

    def __init__(
        self,
        store_path: str,
        storage_dtype: str,
        layers: list[int],
        encoder: EncoderSpec,
        run_options: dict[str, Any],
        shard_size: int,
        flush_seconds: float,
        cpus: float,
    ) -> None:
        use_cpus(cpus)
        self.embedder = encoder.load(**run_options, progress=False)
        self.store = EmbeddingStore(store_path)
        self.settings = {**self.embedder.settings(), "dtype": storage_dtype, "layers": layers}
        self.shard_size, self.flush_seconds = shard_size, flush_seconds

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """Encode and store a decoded batch: one row per utterance, its error or ``""``, and
        its short-audio note or ``""``."""
        keys = [str(key) for key in batch["key"]]
        errors = [str(error) for error in batch["error"]]
        shorts = [""] * len(keys)
        good = [n for n, error in enumerate(errors) if not error]
        audio = [audio_io.Audio(np.asarray(batch["samples"][n]), SAMPLE_RATE) for n in good]
        with self.store.writer(
            self.settings, shard_size=self.shard_size, flush_seconds=self.flush_seconds
        ) as writer:
            for index, result in self.embedder.embed_iter(audio):
                number = good[index]
                if isinstance(result, AudioError):
                    errors[number] = f"{keys[number]}: {result}"
                else:
                    identity = json.loads(batch["source"][number])
                    writer.add(keys[number], result.layers, identity)
                    name = identity.get("path", keys[number])
                    shorts[number] = short_audio_note(name, result.num_samples) or ""
        return {
            "key": np.array(keys, dtype=object),
            "error": np.array(errors, dtype=object),
            "short": np.array(shorts, dtype=object),
            "host": np.full(len(keys), socket.gethostname(), dtype=object),
        }


def _send_by_value(code: Any) -> None:
    """Have Ray send ``code``'s module to the workers by value where they cannot import it: a
    plugin that ``seqsim --import file.py`` imported from a file."""
    module = sys.modules.get(getattr(code, "__module__", ""))
    if module is not None and module.__name__.startswith(PLUGIN_MODULE_PREFIX):
        from ray import cloudpickle

        cloudpickle.register_pickle_by_value(module)


def embed_on_ray(
    utterances: Sequence[tuple[str, AudioInput]],
    store: str | Path | EmbeddingStore,
    *,
    model: str | EncoderSpec,
    layers: LayerSelection = DEFAULT_LAYER,
    cluster: RayCluster | None = None,
    dtype: str = DEFAULT_STORAGE_DTYPE,
    encoder_dtype: str = "auto",
    batch_size: int | None = None,
    shard_size: int = RAY_SHARD_SIZE,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    fail_fast: bool = False,
    progress: bool = True,
) -> EmbedReport:
    """:func:`~seqsim.embed_runs.embed` on a Ray cluster.

    Every ``(key, audio file)`` not stored yet is decoded by Ray tasks and encoded by the
    cluster's workers (``cluster.worker_count()`` actors), each loading ``model`` once and
    writing shards of at most ``shard_size`` utterances into ``store``. The store and the
    audio must be on a filesystem that every node of the cluster sees (at the same paths).
    The run around it (lock, resumption, corrupt shards, consolidation, ``failures.jsonl``)
    is the store's, as for a local run; a worker that dies is retried by Ray, and the store
    ends with every utterance exactly once. The options are checked, and the model's layers
    read from its configuration, before the cluster starts; bad audio is recorded in
    ``failures.jsonl`` (raised with ``fail_fast``).

    Parameters
    ----------
    utterances : sequence of (str, audio)
        ``(key, audio file)`` pairs; keys must be unique. Relative paths are made absolute
        here; in-memory audio (arrays, dataset rows) is refused: the workers read files.
    store : str, Path or EmbeddingStore
        The store to write (created where missing; resumed where it holds some keys).
    model : str or EncoderSpec
        The encoder, by a name :func:`~seqsim.load_encoder` takes (``"whisper-base-offline"``,
        ``"openai/whisper-small"``, a folder, ...) or an :class:`~seqsim.encoders.EncoderSpec`
        with its family and options (such as Whisper's ``strict``). Its family must be
        registered in the workers too: a built-in one, or one registered by an importable
        module.
    layers : int, sequence of int or "all", default -1
        The encoder layers to store, as :func:`~seqsim.load_encoder` takes them.
    cluster : RayCluster, optional
        Where to run (left open); default: ``RayCluster()``, this machine's, closed at the
        end. With ``gpus_per_worker``, the encoders run on CUDA.
    dtype : {"float16", "float32"}, default "float16"
        The storage dtype of the frames.
    encoder_dtype, batch_size
        As :func:`~seqsim.load_encoder` takes them (``dtype``, ``batch_size``).
    shard_size : int, default RAY_SHARD_SIZE (16)
        Utterances an actor takes at once and writes as one shard at most (a small run gets
        smaller batches, so that every actor gets several).
    flush_seconds : float, default DEFAULT_FLUSH_SECONDS
        An actor's writer flushes a shard at least this often.
    fail_fast : bool, default False
        Raise at the first bad audio instead of recording it.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    EmbedReport
        What was embedded, skipped (stored already), failed and set aside (corrupt shards).

    Raises
    ------
    ValueError
        If an option is bad (named), an audio source is not a file path, ``model`` cannot
        be found, or keys repeat.
    seqsim.audio.AudioError
        With ``fail_fast``, at the first audio that cannot be used.
    seqsim.store.StoreError
        If the store holds frames of other settings
        (:class:`~seqsim.store.StoreMismatchError`), another embed run holds it
        (:class:`~seqsim.store.StoreBusyError`), or the workers wrote into a folder this
        machine does not see (not a shared filesystem).
    RayNotInstalledError, RayConnectionError
        If Ray is missing, or the cluster cannot be joined.

    Examples
    --------
    On a cluster (not run here: a cluster takes seconds to start, and every actor loads the
    model)::

        from seqsim.corpus import demo_corpus
        from seqsim.distributed import RayCluster, embed_on_ray

        with RayCluster(workers=2) as cluster:
            report = embed_on_ray(demo_corpus().audio_items(), "store/",
                                  model="whisper-base-offline", layers=-1, cluster=cluster)

    Options are checked before a cluster starts:

    >>> import numpy as np
    >>> from seqsim.distributed import embed_on_ray
    >>> embed_on_ray([("en/s01", "s01.wav")], "store/", model="whisper-base-offline",
    ...              dtype="int8")
    Traceback (most recent call last):
    ...
    ValueError: dtype must be one of 'float16', 'float32'; got 'int8'
    >>> embed_on_ray([("en/s01", np.zeros(16000))], "store/", model="whisper-base-offline")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: en/s01: on a Ray cluster audio is read from files that every node sees; ...
    """
    check_choice("dtype", dtype, STORAGE_DTYPES)
    check_flush_policy(shard_size, flush_seconds)
    check_flag("fail_fast", fail_fast)
    check_flag("progress", progress)
    if batch_size is not None:
        check_count("batch_size", batch_size, 1)
    for key, source in utterances:
        if not isinstance(source, (str, Path)):
            raise ValueError(
                f"{key}: on a Ray cluster audio is read from files that every node sees; "
                f"got a {type(source).__name__}"
            )
    on_gpu = cluster is not None and cluster.gpus_per_worker > 0
    device = torch.device("cuda" if on_gpu else "cpu")  # the workers', not this one's
    encoder = encoder_spec(model).bound()
    _send_by_value(encoder.family.load)
    settings = encoder.planned_settings(layers, dtype, encoder_dtype, device)
    run_options = {
        "layers": settings["layers"],
        "dtype": encoder_dtype,
        "batch_size": batch_size,
        "device": "cuda" if on_gpu else "cpu",
    }
    store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
    with cluster_session(cluster) as active:
        producer = RayProducer(
            active, encoder, run_options, shard_size, flush_seconds, fail_fast, progress
        )
        return embed_with(store, producer, utterances, settings)


class RayEmbedding:
    """Embedding on a Ray cluster, with the :meth:`embed` of :class:`~seqsim.embedding.
    LocalEmbedding`: :func:`~seqsim.embedding.embed_corpus` (and so ``seqsim embed``, the
    evaluator and ``seqsim index build``) fills a store through either, alike. What it runs
    is :func:`embed_on_ray`. ``cluster.embedding()`` makes one.

    Parameters
    ----------
    cluster : RayCluster
        The cluster whose actors encode (left open).

    Examples
    --------
    >>> from seqsim.distributed import RayCluster
    >>> RayCluster(workers=2).embedding()
    RayEmbedding(RayCluster(address=None, workers=2, ...))
    """

    def __init__(self, cluster: RayCluster) -> None:
        self.cluster = cluster

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cluster!r})"

    def embed(
        self,
        utterances: Sequence[tuple[str, AudioInput]],
        store: EmbeddingStore,
        encoder: EncoderSpec,
        layers: LayerSelection,
        *,
        device: str | None = None,
        dtype: str = DEFAULT_STORAGE_DTYPE,
        batch_size: int | None = None,
        shard_size: int | None = None,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        fail_fast: bool = False,
        progress: bool = True,
    ) -> EmbedReport:
        """:meth:`LocalEmbedding.embed <seqsim.embedding.LocalEmbedding.embed>` by the
        cluster's encoder actors (:func:`embed_on_ray`); ``shard_size`` is ``RAY_SHARD_SIZE``
        (16) by default.

        Raises
        ------
        ValueError
            For a ``device`` (each worker picks its own: CUDA where ``gpus_per_worker`` gives
            it a GPU), or an encoder in memory (the workers load it by name).
        """
        if device not in (None, "auto"):
            raise ValueError(
                f"device={device!r}: on a Ray cluster every worker picks its own device, CUDA "
                "where gpus_per_worker gives it a GPU (leave device out)"
            )
        if not isinstance(encoder.model, str):
            raise ValueError(
                "a model in memory cannot be sent to a Ray cluster: save it "
                "(model.save_pretrained(folder)) and give the folder"
            )
        return embed_on_ray(
            utterances,
            store,
            model=encoder,
            layers=layers,
            cluster=self.cluster,
            dtype=dtype,
            batch_size=batch_size,
            fail_fast=fail_fast,
            shard_size=shard_size or RAY_SHARD_SIZE,
            flush_seconds=flush_seconds,
            progress=progress,
        )
