"""Embedding a corpus on a Ray cluster: a Ray Data pipeline whose encoder actors write shards
into one store.

Manifest rows (the keys not stored yet: the store drops the rest before any audio is read) ->
decoding and resampling in Ray tasks -> a pool of actors, each holding one
:class:`~seqsim.WhisperEmbedder` (one model load per actor, on a GPU when it has one) that
encodes a batch and writes it into the store through :meth:`EmbeddingStore.writer` -> one
small row per utterance back to this process (stored, or why it failed). The run around it,
lock, resumption, corrupt shards, consolidation and ``failures.jsonl``, is the store's
(:meth:`EmbeddingStore.embed_with`), as for a local run.

A Ray task or actor that dies is retried by Ray; what it had flushed stays in the store and
what it redoes is read once (the first copy of a key wins), so the store ends with every
utterance exactly once.
"""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import audio as audio_io
from ..audio import SAMPLE_RATE, AudioError, AudioInput
from ..checks import check_choice, check_count, check_flag
from ..embedder import (
    LayerSelection,
    WhisperEmbedder,
    frame_settings,
    requested_layers,
    resolve_dtype,
    resolve_layers,
)
from ..progress import progress_bar
from ..store import EmbeddingStore, EmbedReport, StoreError
from ..store.store import (
    DEFAULT_FLUSH_SECONDS,
    STORAGE_DTYPES,
    check_flush_policy,
    failure_record,
)
from ..whisper.loading import whisper_info
from .cluster import RayCluster, cluster_session, require_ray, use_cpus

RAY_SHARD_SIZE = 16
"""Utterances per actor call (and so per shard at most) on a cluster: small enough to spread
a corpus evenly over the actors and to bound what a killed actor redoes."""
BATCHES_PER_WORKER = 8
"""A run too small for that many batches of ``shard_size`` per actor gets smaller batches, so
that the actors finish together."""
WORKERS_PER_DECODER = 2
"""Encoder actors per decoding task in flight. Decoding costs about 1 % of encoding on a CPU
(a few % of it on a GPU), so its tasks reserve no CPU of their own (the actors may take every
core) and are bounded by this instead; each task process imports seqsim once (~2 s)."""


@dataclass
class RayProducer:
    """An embed run's producer (:class:`~seqsim.store.Producer`) on a Ray cluster."""

    cluster: RayCluster
    embedder_options: dict[str, Any]
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
                for key, reason, host in zip(
                    batch["key"], batch["error"], batch["host"], strict=True
                ):
                    if not reason:
                        written[str(host)].append(str(key))
                        report.embedded += 1
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
                    "embedder_options": self.embedder_options,
                    "shard_size": self.shard_size,
                    "flush_seconds": self.flush_seconds,
                    "cpus": self.cluster.cpus_per_worker,
                },
                compute=data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
                **self.cluster.resources_per_worker(),
            )
        )


def check_written(store: EmbeddingStore, written: Mapping[str, Sequence[str]]) -> None:
    """Raise :class:`~seqsim.store.StoreError` where utterances that workers wrote (``written``:
    host -> keys) are not in ``store`` as this process sees it: the workers of those hosts
    wrote into a folder of the same name that is not this one (a local disk, not a shared
    filesystem)."""
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
    """Audio files as checked mono float32 at 16 kHz (an empty array and the reason where a
    file cannot be used)."""
    samples, errors = [], []
    for path in batch["path"]:
        try:
            samples.append(audio_io.load(str(path)))
            errors.append("")
        except AudioError as error:
            samples.append(np.zeros(0, np.float32))
            errors.append(str(error))
    return {"key": batch["key"], "samples": samples, "error": np.array(errors, dtype=object)}


class EncoderActor:
    """One Ray actor of the pipeline: a :class:`~seqsim.WhisperEmbedder`, loaded once, that
    encodes decoded batches and writes them into the store."""

    def __init__(
        self,
        store_path: str,
        storage_dtype: str,
        embedder_options: dict[str, Any],
        shard_size: int,
        flush_seconds: float,
        cpus: float,
    ) -> None:
        use_cpus(cpus)
        self.embedder = WhisperEmbedder(**embedder_options, progress=False)
        self.store = EmbeddingStore(store_path)
        self.settings = {**self.embedder.settings(), "dtype": storage_dtype}
        self.shard_size, self.flush_seconds = shard_size, flush_seconds

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        keys = [str(key) for key in batch["key"]]
        errors = [str(error) for error in batch["error"]]
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
                    writer.add(keys[number], result.layers)
        return {
            "key": np.array(keys, dtype=object),
            "error": np.array(errors, dtype=object),
            "host": np.full(len(keys), socket.gethostname(), dtype=object),
        }


def planned_settings(
    model: str,
    layers: LayerSelection,
    storage_dtype: str,
    encoder_dtype: str | torch.dtype,
    on_gpu: bool,
) -> dict[str, Any]:
    """The store settings that the actors' embedders will have, worked out without loading
    the model (its layer count is read from its configuration)."""
    info = whisper_info(model)
    return {
        **frame_settings(
            info.source,
            resolve_layers(requested_layers(layers), info.encoder_layers, info.source),
            info.encoder_layers,
            resolve_dtype(encoder_dtype, torch.device("cuda" if on_gpu else "cpu")),
        ),
        "dtype": storage_dtype,
    }


def embed_on_ray(
    utterances: Sequence[tuple[str, str | Path]],
    store: str | Path | EmbeddingStore,
    *,
    model: str,
    layers: LayerSelection = -1,
    cluster: RayCluster | None = None,
    dtype: str = "float16",
    encoder_dtype: str = "auto",
    batch_size: int | None = None,
    strict: bool = False,
    shard_size: int = RAY_SHARD_SIZE,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    fail_fast: bool = False,
    progress: bool = True,
) -> EmbedReport:
    """:meth:`EmbeddingStore.embed` on a Ray cluster: every ``(key, audio file)`` not stored
    yet is decoded by Ray tasks and encoded by ``cluster.workers`` actors, each loading
    ``model`` once (with ``layers``, ``encoder_dtype``, ``batch_size`` and ``strict`` as
    :class:`~seqsim.WhisperEmbedder` takes them) and writing shards of at most ``shard_size``
    utterances into ``store`` (storage ``dtype``). The store and the audio must be on a
    filesystem that every node of the cluster sees. ``cluster``: a :class:`RayCluster`
    (default: ``RayCluster()``, this machine's). Every option is checked before the cluster
    starts; bad audio is recorded in ``failures.jsonl`` (raised with ``fail_fast``).
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
    settings = planned_settings(model, layers, dtype, encoder_dtype, on_gpu)
    embedder_options = {
        "model": model,
        "layers": settings["layers"],
        "dtype": encoder_dtype,
        "batch_size": batch_size,
        "strict": strict,
        "device": "cuda" if on_gpu else "cpu",
    }
    store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
    with cluster_session(cluster) as active:
        producer = RayProducer(
            active, embedder_options, shard_size, flush_seconds, fail_fast, progress
        )
        return store.embed_with(producer, utterances, settings)
