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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypeGuard

import numpy as np
import torch

from .._defaults import DEFAULT_FLUSH_SECONDS, DEFAULT_SHARD_SIZE, STORAGE_DTYPES
from .._version import __version__
from ..checks import check_choice, check_count, check_positive
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
:func:`seqsim.embed_runs.embed_with`)."""
ENCODER_DEFAULTS: dict[str, Any] = {
    "family": "whisper",
    "options": {},
    "frame_seconds": 0.02,
}
"""The encoder settings of a store that does not record them (made before seqsim took other
encoders than Whisper, or written by hand): Whisper's, with no options, and its frames of
20 ms (:data:`seqsim.audio.SAMPLES_PER_FRAME` at :data:`seqsim.audio.SAMPLE_RATE`)."""


def identity_setting(settings: Mapping[str, Any], name: str) -> Any:
    """The identity setting ``name`` of ``settings``, its default where it is not recorded.

    Parameters
    ----------
    settings : mapping
        A store's settings, or those an embed run asks for.
    name : str
        One of :data:`IDENTITY`.

    Returns
    -------
    Any
        ``settings[name]``, else its default in :data:`ENCODER_DEFAULTS` (None where it has
        none).

    Examples
    --------
    >>> from seqsim.store.store import identity_setting
    >>> settings = {"model": "toy", "dtype": "float16"}
    >>> identity_setting(settings, "model"), identity_setting(settings, "family")
    ('toy', 'whisper')
    """
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
        settings = store.require_settings()
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

    def claim(self, settings: Mapping[str, Any]) -> None:
        """Create the store with ``settings``, or check that it holds frames of the same
        :data:`IDENTITY` (encoder family, model, options and storage dtype).

        What :meth:`writer` does first, and an embed run before it plans
        (:func:`seqsim.embed_runs.embed_with`). The layers may differ from the store's: a
        writer may write the layers an embed run adds.

        Parameters
        ----------
        settings : mapping
            As :meth:`writer` takes them.

        Raises
        ------
        ValueError
            When ``settings`` lack one of ``model``, ``layers``, ``dtype`` and
            ``hidden_states``, or the layers or dtype are bad.
        StoreMismatchError
            When the store holds embeddings with another identity.
        StoreWriteError
            When the store cannot be created.

        Examples
        --------
        >>> import tempfile
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     store.claim(settings)
        ...     store.claim({**settings, "layers": [4, 6]})  # other layers: the same identity
        ...     print(store.settings["model"], store.settings["layers"])
        ...     store.claim({**settings, "dtype": "float32"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        seqsim.store.store.StoreMismatchError: /... holds embeddings with dtype='float16', ...
        """
        with locks.owner(self.path) as owner:
            self._claim(settings, owner)

    def _claim(self, settings: Mapping[str, Any], owner: str) -> None:
        """:meth:`claim`, for ``owner``."""
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
        existing = self.require_settings()
        for name in IDENTITY:
            held, asked = identity_setting(existing, name), identity_setting(settings, name)
            if held != asked:
                raise StoreMismatchError(
                    f"{self.path} holds embeddings with {name}={held!r}, but {name}={asked!r} "
                    "was asked for; use another store directory"
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
        model and storage dtype (:meth:`claim`). They write the layers ``settings`` name: the
        store's, or others that an embed run adds (:func:`seqsim.embed_runs.embed_with`; an
        utterance is stored once it holds every layer of the store). Many writers, in one
        process or many, may write one store at once. Temporary files of dead writers are
        removed first.

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

    @contextmanager
    def embed_run_lock(self) -> Iterator[None]:
        """Hold the store's ``embed.lock`` while the block runs: one embed run at a time.

        The store's folder is created first where it is missing. An embed run
        (:func:`seqsim.embed_runs.embed_with`) holds it from its plan to ``failures.jsonl``;
        writers (:meth:`writer`) do not take it.

        Yields
        ------
        None

        Raises
        ------
        StoreBusyError
            Naming the store and the process whose embed run holds it.
        StoreWriteError
            When the folder or the lock file cannot be created.

        Examples
        --------
        >>> import tempfile
        >>> from seqsim.store import EmbeddingStore
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.embed_run_lock(), store.embed_run_lock():
        ...         pass  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        seqsim.store.locks.StoreBusyError: /... is in use by another embed run (pid ...
        """
        make_folder(self.path)
        with locks.exclusive(self.path / "embed.lock", "embed run"):
            yield

    def write_failures(self, failures: Sequence[Mapping[str, str]]) -> None:
        """Replace ``failures.jsonl`` with ``failures``, one JSON object a line (atomically).

        Parameters
        ----------
        failures : sequence of mapping
            The utterances that failed in the last embed run: ``key``, ``source``,
            ``reason`` (:func:`seqsim.embed_runs.failure_record`); none leaves an empty file.

        Raises
        ------
        StoreWriteError
            When the file cannot be written.

        Examples
        --------
        >>> import tempfile
        >>> from seqsim.store import EmbeddingStore
        >>> failed = {"key": "en/s01", "source": "s01.wav", "reason": "s01.wav: file not found"}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     store.write_failures([failed])
        ...     print((store.path / "failures.jsonl").read_text(), end="")
        {"key": "en/s01", "source": "s01.wav", "reason": "s01.wav: file not found"}
        """
        lines = "".join(json.dumps(failure) + "\n" for failure in failures)
        with locks.owner(self.path) as owner:
            write_text_atomically(self.path / "failures.jsonl", owner, lines)

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

    def copies(self) -> Copies:
        """Every copy of every key in the shards, and the layers each holds.

        Returns
        -------
        Copies
            Read from the shards, in name order (:class:`~seqsim.store.copies.Copies`);
            empty where there is no store.

        Raises
        ------
        CorruptShardError
            Naming a shard whose keys, lengths or layer headers cannot be read.

        Examples
        --------
        A key written with layer 6, then given layer 4 by another writer:

        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.writer(settings) as writer:
        ...         writer.add("en/s01", {6: np.ones((3, 4))})
        ...     with store.writer({**settings, "layers": [4]}) as writer:
        ...         writer.add("en/s01", {4: np.ones((3, 4))})
        ...     copies = store.copies()
        ...     print(copies.rows["en/s01"], sorted(copies.layers("en/s01")))
        [(0, 0), (1, 0)] [4, 6]
        """
        return Copies(self._contents())

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
        return self.copies().holding(settings["layers"] if settings else [])

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

    # ------------------------------------------------------------------ sources

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

    def require_settings(self) -> dict[str, Any]:
        """The :attr:`settings` of a store that exists.

        Returns
        -------
        dict
            As :attr:`settings` gives them.

        Raises
        ------
        StoreError
            Where there is no store at ``path`` (no ``store.json``), and as :attr:`settings`
            raises it.

        Examples
        --------
        >>> import tempfile
        >>> from seqsim.store import EmbeddingStore
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     EmbeddingStore(folder).require_settings()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        seqsim.store.files.StoreError: /... is not an embedding store (no store.json)
        """
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

    def consolidate_or_set_aside(self, layers: list[int]) -> list[Path]:
        """Consolidate with ``layers`` as the store's, or set aside a corrupt shard found.

        What an embed run does last (:func:`seqsim.embed_runs.embed_with`). ``layers`` are
        the store's, or the store's and layers that every stored utterance holds now (an
        embed run added them): their layer files are written, then ``store.json`` names them
        (an atomic rewrite). A shard found corrupt on the way is moved to
        ``shards/set-aside/`` (as :meth:`set_aside_corrupt_shards` moves it) instead of
        raised, and nothing is consolidated: embed its utterances again, then call this
        again.

        Parameters
        ----------
        layers : list of int
            The store's layers, and any it gains.

        Returns
        -------
        list of pathlib.Path
            Where the corrupt shard went; empty when the store was consolidated.

        Raises
        ------
        StoreError
            When there is no store at ``path``.
        StoreCorruptError
            Naming ``index.json``, when it is damaged, and how to rebuild it.
        StoreWriteError
            When the files cannot be written.

        Examples
        --------
        Layer 4 added to the one utterance of a store of layer 6, then a damaged shard:

        >>> import tempfile
        >>> import numpy as np
        >>> from seqsim.store import EmbeddingStore
        >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = EmbeddingStore(folder)
        ...     with store.writer(settings) as writer:
        ...         writer.add("en/s01", {6: np.ones((3, 4))})
        ...     with store.writer({**settings, "layers": [4]}) as writer:
        ...         writer.add("en/s01", {4: np.zeros((3, 4))})
        ...     print(store.consolidate_or_set_aside([4, 6]), store.settings["layers"])
        ...     _ = (store.shard_dir / "junk.npz").write_bytes(b"not a zip")
        ...     print([path.name for path in store.consolidate_or_set_aside([4, 6])])
        [] [4, 6]
        ['junk.npz']
        """
        return self._consolidate(repair=True, layers=layers)

    def _consolidate(self, repair: bool, layers: list[int] | None = None) -> list[Path]:
        """Consolidate the store's layers, or ``layers`` (see :meth:`consolidate_or_set_aside`).
        With ``repair``, a corrupt shard found is set aside instead of raised: returns where it
        went."""
        settings = self.require_settings()
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
        settings = self.require_settings()
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
