"""A corpus into an embedding store: :func:`embed_corpus`, the one path of ``seqsim embed``,
the evaluator and ``seqsim index build``. Where the encoders run is an
:class:`EmbeddingRunner`'s business: :class:`LocalEmbedding` here, or a Ray cluster's
(``cluster.embedding()``, :class:`seqsim.distributed.RayEmbedding`), with the same store at
the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ._defaults import (
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_LAYER,
    DEFAULT_SHARD_SIZE,
    DEFAULT_STORAGE_DTYPE,
)
from .audio import AudioInput
from .backends import resolve_device
from .checks import check_choice
from .corpus import Corpus
from .embed_runs import EmbedderProducer, EmbedReport, embed, embed_with
from .encoders import EncoderSpec, LayerSelection, SpeechEncoder, encoder_spec
from .store import EmbeddingStore
from .store.store import STORAGE_DTYPES, check_flush_policy


class EmbeddingRunner(Protocol):
    """What embeds utterances into a store: :class:`LocalEmbedding`, or a Ray cluster's
    :class:`~seqsim.distributed.RayEmbedding`; :func:`embed_corpus` takes either."""

    def embed(
        self,
        utterances: Sequence[tuple[str, AudioInput]],
        store: EmbeddingStore,
        encoder: EncoderSpec,
        layers: LayerSelection,
        *,
        device: str | None,
        dtype: str,
        batch_size: int | None,
        shard_size: int | None,
        flush_seconds: float,
        fail_fast: bool,
        progress: bool,
    ) -> EmbedReport:
        """Embed what ``store`` lacks of ``utterances`` (see :meth:`LocalEmbedding.embed`)."""
        ...


class LocalEmbedding:
    """Embedding in this process: the encoder loads here (once there is something to embed)
    and writes the store's shards.

    Examples
    --------
    >>> from seqsim.embedding import LocalEmbedding
    >>> LocalEmbedding()
    LocalEmbedding()
    """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

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
        """Embed every ``(key, audio)`` that ``store`` lacks, with ``encoder``'s ``layers``.

        An encoder given by name is checked against the store from its configuration and
        loaded only when there is something to embed; one in memory is used as it is.

        Parameters
        ----------
        utterances : sequence of (str, audio)
            Keys (unique) and their audio.
        store : EmbeddingStore
            The store to fill (resumable).
        encoder : EncoderSpec
            The encoder, its family and options.
        layers : int, sequence of int or "all"
            The layers to store (the store's own among them, to keep them).
        device : str, optional
            The encoder's device (``"auto"`` by default).
        dtype : {"float16", "float32"}, default "float16"
            How a new store keeps its frames.
        batch_size : int, optional
            Utterances per encoder pass (the encoder's default by default).
        shard_size : int, optional
            Utterances per shard at most (``DEFAULT_SHARD_SIZE`` by default).
        flush_seconds : float, default DEFAULT_FLUSH_SECONDS
            A shard is written at least this often.
        fail_fast : bool, default False
            Raise at the first bad audio instead of recording it.
        progress : bool, default True
            Show a progress bar.

        Returns
        -------
        EmbedReport
            What the run embedded, skipped, failed and embedded again.
        """
        check_choice("dtype", dtype, STORAGE_DTYPES)
        shard_size = shard_size or DEFAULT_SHARD_SIZE
        check_flush_policy(shard_size, flush_seconds)
        on = resolve_device(device or "auto")

        def make_encoder() -> SpeechEncoder:
            return encoder.load(layers=layers, batch_size=batch_size, device=on, progress=progress)

        if isinstance(encoder.model, str):  # checked against the store now, loaded when needed
            settings = encoder.planned_settings(layers, dtype, "auto", on)
            producer = EmbedderProducer(make_encoder, shard_size, flush_seconds, fail_fast)
            return embed_with(store, producer, utterances, settings)
        return embed(
            store,
            utterances,
            make_encoder(),
            dtype=dtype,
            shard_size=shard_size,
            flush_seconds=flush_seconds,
            fail_fast=fail_fast,
        )


def model_name(model: Any) -> str:
    """The name under which a store records ``model``: a name or folder as given (known
    without reading its configuration), a model in memory by a digest of its weights (its
    family's :class:`~seqsim.encoders.EncoderInfo`).

    Parameters
    ----------
    model : str, EncoderSpec or a model in memory
        What :func:`~seqsim.load_encoder` takes.

    Returns
    -------
    str
        The store's ``model`` setting.

    Examples
    --------
    >>> from seqsim.embedding import model_name
    >>> model_name("whisper-base-offline")
    'whisper-base-offline'
    """
    spec = encoder_spec(model)
    return spec.model if isinstance(spec.model, str) else spec.info().model


def embed_corpus(
    corpus: Corpus,
    model: str | EncoderSpec | Any,
    store: str | Path | EmbeddingStore,
    layers: LayerSelection = DEFAULT_LAYER,
    device: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    *,
    runner: EmbeddingRunner | None = None,
    dtype: str = DEFAULT_STORAGE_DTYPE,
    fail_fast: bool = False,
    shard_size: int | None = None,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
) -> EmbedReport:
    """Embed every utterance of ``corpus`` not yet in ``store``, for all ``layers`` in one pass,
    here or (with ``runner``) wherever the runner embeds, such as a Ray cluster.

    A store of this model keeps the layers it holds and gains those asked for that it lacks:
    every stored utterance gets them too (:func:`~seqsim.embed_runs.embed_with`). Utterances
    whose audio fails are recorded in the report (and the store's ``failures.jsonl``), not
    raised. A model given by
    name is checked against the store from its configuration, and loaded only when there is
    something to embed: a store of another encoder (family, model, options) or storage dtype
    is refused at once, and a
    store that holds every utterance is read without loading the model. An utterance stored
    from other audio than the corpus gives is embedded again (see
    :func:`~seqsim.embed_runs.embed_with`).

    Parameters
    ----------
    corpus : Corpus
        The utterances; every one needs an audio path.
    model : str, EncoderSpec or a model in memory
        The encoder: anything :func:`~seqsim.load_encoder` takes (a folder, a hub id, a
        registered name such as ``"whisper-base-offline"``, a transformers model), or an
        :class:`~seqsim.encoders.EncoderSpec` naming its family and options.
    store : str, pathlib.Path or EmbeddingStore
        The store to fill (resumable).
    layers : int, sequence of int or "all", default -1
        Hidden-state indices to store; negative counts from the last.
    device : str, optional
        The encoder's device (``"auto"`` by default); on a Ray cluster each worker picks its
        own, so leave it out there.
    batch_size : int, optional
        Utterances per encoder pass (the embedder's default by default).
    progress : bool, default True
        Show a progress bar.
    runner : EmbeddingRunner, optional
        Where the encoders run: :class:`LocalEmbedding` (this process, the default), or
        ``cluster.embedding()`` of a :class:`~seqsim.distributed.RayCluster`.
    dtype : {"float16", "float32"}, default "float16"
        How a new store keeps its frames.
    fail_fast : bool, default False
        Raise at the first bad audio instead of recording it.
    shard_size : int, optional
        Utterances per shard at most (by default ``DEFAULT_SHARD_SIZE``, on a cluster
        ``RAY_SHARD_SIZE``).
    flush_seconds : float, default DEFAULT_FLUSH_SECONDS
        A shard is written at least this often.

    Returns
    -------
    EmbedReport
        What the run embedded, skipped (already stored), failed and embedded again (changed
        audio).

    Raises
    ------
    CorpusError
        For an utterance without an audio path.
    StoreMismatchError
        When the store holds embeddings of another encoder or storage dtype.
    StoreBusyError
        When another embed run holds the store.

    Examples
    --------
    >>> import tempfile
    >>> from seqsim.corpus import Corpus, demo_corpus
    >>> from seqsim.embedding import embed_corpus
    >>> from seqsim.store import EmbeddingStore
    >>> corpus = demo_corpus().parallel(["en", "fr"])
    >>> one = Corpus([u for u in corpus.utterances if u.sentence == "s01"])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = EmbeddingStore(folder)
    ...     first = embed_corpus(one, "whisper-base-offline", store, [-1], progress=False)
    ...     again = embed_corpus(one, "whisper-base-offline", store, [-1], progress=False)
    ...     keys = store.keys()
    >>> first.embedded, again.embedded, again.skipped, keys
    (2, 0, 2, ['en/s01', 'fr/s01'])
    """
    store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
    spec = encoder_spec(model)
    selection: LayerSelection = layers
    stored = store.settings
    if stored is not None and layers != "all" and stored["model"] == model_name(spec):
        asked = [layers] if isinstance(layers, int) else list(layers)
        states = {layer % stored["hidden_states"] for layer in asked}
        selection = sorted(states | set(stored["layers"]))  # a store gains layers, keeps its own
    return (runner or LocalEmbedding()).embed(
        corpus.audio_items(),
        store,
        spec,
        selection,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        shard_size=shard_size,
        flush_seconds=flush_seconds,
        fail_fast=fail_fast,
        progress=progress,
    )
