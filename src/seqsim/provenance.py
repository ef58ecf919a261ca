"""What stored frames were made from: a cheap, checkable identity of an utterance's audio.

An embedding store records, with every utterance's frames, the identity of the audio they
were made from (:func:`identify`):

- a file (a path, or a Hugging Face audio dict that holds only one): its absolute path, its
  size, its modification time and the SHA-256 of its bytes;
- audio in memory (samples and a rate, encoded bytes, a decoded ``datasets`` object): the
  SHA-256 of the samples with their dtype, shape and rate, or of the bytes;
- a :class:`~seqsim.audio.LazyAudio` (a dataset row, a lhotse cut): the identity of what it
  reads, with its name.

A later run compares each key's audio with the record (:func:`same_audio`). A file at the
recorded path with the recorded size and modification time is taken as unchanged without
being read (one ``stat``, as ``git`` and ``make`` do); any other file is read and hashed, so a
file that was only touched is still the same audio, and a different file behind the same key
never is. Lazy audio is read on every check.

:func:`audio_changes` compares a store's records with the audio given now, for an embed run
(:func:`seqsim.embed_runs.embed_with`, which embeds a changed key again); :func:`check_audio`
refuses changed audio (:class:`AudioChangedError`), for an evaluation that reads a store without
a model.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .audio import Audio, AudioError, AudioInput, LazyAudio, check_regular_file, describe
from .store import EmbeddingStore, StoreMismatchError

AudioRecord = dict[str, Any]
"""An audio identity as JSON-ready data: ``sha256`` always; ``path``, ``size`` and
``mtime_ns`` for a file; ``name`` for lazy or encoded in-memory audio."""

_CHUNK = 1 << 20


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _samples_sha256(samples: Any, rate: object) -> str:
    array = np.ascontiguousarray(np.asarray(samples))
    digest = hashlib.sha256(json.dumps([str(array.dtype), list(array.shape), str(rate)]).encode())
    digest.update(array.data)
    return digest.hexdigest()


def _file_identity(path: str | Path, known: Mapping[str, Any] | None) -> AudioRecord:
    check_regular_file(Path(path))  # a FIFO is never opened, a directory named as one
    absolute = Path(path).absolute()
    try:
        status = os.stat(absolute)
        if (
            known is not None
            and known.get("path") == str(absolute)
            and known.get("size") == status.st_size
            and known.get("mtime_ns") == status.st_mtime_ns
        ):
            return dict(known)
        sha256 = _file_sha256(absolute)
    except FileNotFoundError:
        raise AudioError(f"{path}: file not found") from None
    except OSError as error:
        raise AudioError(f"{path}: cannot read the file ({error.strerror or error})") from None
    return {
        "path": str(absolute),
        "size": status.st_size,
        "mtime_ns": status.st_mtime_ns,
        "sha256": sha256,
    }


def identify(source: AudioInput, known: Mapping[str, Any] | None = None) -> AudioRecord:
    """The identity of one utterance's audio, as a store records it.

    Parameters
    ----------
    source : AudioInput
        Any input :func:`seqsim.audio.load` takes.
    known : mapping, optional
        An earlier record of the same key: a file at its ``path`` with its ``size`` and
        ``mtime_ns`` is taken as unchanged, and ``known`` is returned without reading it.

    Returns
    -------
    dict
        ``sha256`` (of the file's bytes, or of the samples with their dtype, shape and rate),
        with ``path``, ``size`` and ``mtime_ns`` for a file, and ``name`` for lazy audio and
        encoded bytes.

    Raises
    ------
    AudioError
        Naming the source, when a file is missing or cannot be read, or the source is not an
        audio input.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.provenance import identify
    >>> first = identify((np.array([0.1, 0.2], np.float32), 16_000))
    >>> same = identify((np.array([0.1, 0.2], np.float32), 16_000))
    >>> other = identify((np.array([0.1, 0.2], np.float32), 8_000))
    >>> sorted(first), first == same, first == other
    (['sha256'], True, False)

    A file is named by its absolute path, size and modification time:

    >>> import os, tempfile
    >>> import soundfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "s01.wav")
    ...     soundfile.write(path, np.full(1600, 0.1), 16_000)
    ...     record = identify(path)
    ...     print(sorted(record), record["path"] == path, record["size"])
    ['mtime_ns', 'path', 'sha256', 'size'] True 3244
    """
    if isinstance(source, (str, Path)):
        return _file_identity(source, known)
    if isinstance(source, LazyAudio):
        return {**identify(source.read(), known), "name": source.name}
    if isinstance(source, Audio):
        return {"sha256": _samples_sha256(source.samples, source.sample_rate)}
    if isinstance(source, Mapping):
        if source.get("array") is not None:
            return {"sha256": _samples_sha256(source["array"], source.get("sampling_rate"))}
        if source.get("bytes") is not None:
            digest = hashlib.sha256(bytes(source["bytes"])).hexdigest()
            return {"sha256": digest, "name": describe(source)}
        if source.get("path"):
            return _file_identity(source["path"], known)
    if callable(getattr(source, "get_all_samples", None)):
        decoded = source.get_all_samples()  # type: ignore[union-attr]
        return {"sha256": _samples_sha256(np.asarray(decoded.data), decoded.sample_rate)}
    if isinstance(source, tuple) and len(source) == 2:
        return {"sha256": _samples_sha256(source[0], source[1])}
    raise AudioError(f"{describe(source)}: not an audio input ({type(source).__name__})")


def same_audio(record: Mapping[str, Any] | None, identity: Mapping[str, Any]) -> bool:
    """Whether ``identity`` (from :func:`identify`) is the audio that ``record`` describes.

    The content decides: the same bytes (or samples) under another path are the same audio,
    and a record of unknown audio (None: frames written without one) matches nothing.

    Parameters
    ----------
    record : mapping or None
        What a store recorded for the key.
    identity : mapping
        The identity of the audio given for the key now.

    Returns
    -------
    bool
        True when both name the same SHA-256.

    Examples
    --------
    >>> from seqsim.provenance import same_audio
    >>> same_audio({"sha256": "ab", "path": "/a.wav"}, {"sha256": "ab", "path": "/b.wav"})
    True
    >>> same_audio(None, {"sha256": "ab"}), same_audio({"sha256": "ab"}, {"sha256": "cd"})
    (False, False)
    """
    return record is not None and record.get("sha256") == identity.get("sha256")


def describe_record(record: Mapping[str, Any] | None) -> str:
    """A short name for a recorded audio identity, for messages.

    Parameters
    ----------
    record : mapping or None
        A record of :func:`identify`, or None for unknown audio.

    Returns
    -------
    str
        The path, else the name, else ``"in-memory audio"`` with the first 12 digits of its
        SHA-256; ``"unrecorded audio"`` for None.

    Examples
    --------
    >>> from seqsim.provenance import describe_record
    >>> describe_record({"path": "/corpus/en/s01.wav", "sha256": "0123456789abcdef"})
    '/corpus/en/s01.wav'
    >>> describe_record({"sha256": "0123456789abcdef"}), describe_record(None)
    ('in-memory audio 0123456789ab', 'unrecorded audio')
    """
    if record is None:
        return "unrecorded audio"
    if record.get("path"):
        return str(record["path"])
    if record.get("name"):
        return str(record["name"])
    return f"in-memory audio {str(record.get('sha256', ''))[:12]}"


def audio_fingerprint(records: Iterable[tuple[str, Mapping[str, Any] | None]]) -> str:
    """A checksum of the audio behind a set of keys: each key with its audio's SHA-256.

    Results record it in their settings, so that frames made from other audio under the same
    keys give another settings hash.

    Parameters
    ----------
    records : iterable of (str, mapping or None)
        ``(key, record)`` pairs (the order does not matter; None for unknown audio).

    Returns
    -------
    str
        The first 16 hex digits of a SHA-256.

    Examples
    --------
    >>> from seqsim.provenance import audio_fingerprint
    >>> first = audio_fingerprint([("en/s1", {"sha256": "aa"}), ("fr/s1", {"sha256": "bb"})])
    >>> again = audio_fingerprint([("fr/s1", {"sha256": "bb"}), ("en/s1", {"sha256": "aa"})])
    >>> swapped = audio_fingerprint([("en/s1", {"sha256": "bb"}), ("fr/s1", {"sha256": "aa"})])
    >>> len(first), first == again, first == swapped
    (16, True, False)
    """
    pairs = sorted(
        (key, None if record is None else record.get("sha256")) for key, record in records
    )
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


class AudioChangedError(StoreMismatchError):
    """A store asked for frames of audio other than the audio they were made from.

    Also a :class:`~seqsim.store.StoreMismatchError` (and a ``ValueError``). Raised by
    :func:`check_audio`, which an evaluation that reads a store without a model runs first.

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
    >>> from seqsim.provenance import AudioChangedError
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


def audio_changes(
    store: EmbeddingStore, utterances: Sequence[tuple[str, AudioInput]]
) -> tuple[list[dict[str, str]], list[str]]:
    """The keys of ``utterances`` that ``store`` holds from other audio than given now, and
    those whose audio cannot be checked.

    A key's record (:meth:`EmbeddingStore.sources <seqsim.store.EmbeddingStore.sources>`) is
    compared with the audio given (:func:`identify`, :func:`same_audio`). Keys the store lacks
    are left out.

    Parameters
    ----------
    store : EmbeddingStore
        The store.
    utterances : sequence of (str, AudioInput)
        Keys and the audio they stand for now.

    Returns
    -------
    changed : list of dict
        ``key``, ``stored`` and ``given`` (:func:`describe_record` of each audio, or why the
        audio given cannot be read) of every key stored from other audio.
    unchecked : list of str
        The keys stored without a record of their audio, or recorded from a file that is
        gone from the very path given now.

    Raises
    ------
    CorruptShardError
        Naming a shard that cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim.provenance import audio_changes, identify
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
    >>> spoken, other = (np.full(1600, 0.1), 16_000), (np.full(1600, 0.2), 16_000)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = EmbeddingStore(folder)
    ...     with store.writer(settings) as writer:
    ...         writer.add("en/s01", {6: np.ones((3, 4))}, identify(spoken))
    ...         writer.add("fr/s01", {6: np.ones((3, 4))})
    ...     changed, unchecked = audio_changes(store, [("en/s01", other), ("fr/s01", other)])
    >>> [change["key"] for change in changed], unchecked
    (['en/s01'], ['fr/s01'])
    """
    stored = store.sources()
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
            given_path = str(Path(source).absolute()) if isinstance(source, (str, Path)) else None
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


def check_audio(store: EmbeddingStore, utterances: Sequence[tuple[str, AudioInput]]) -> list[str]:
    """Check that the frames ``store`` holds of ``utterances`` were made from the audio given.

    What an evaluation that reads a store without a model to embed with does first: a
    key stored from other audio (another file, or the same file changed) is refused, never
    scored with the old frames. Files at their recorded path, size and modification time
    are not read (see the module documentation).

    Parameters
    ----------
    store : EmbeddingStore
        The store.
    utterances : sequence of (str, AudioInput)
        Keys and the audio they stand for; keys the store lacks are not checked.

    Returns
    -------
    list of str
        The keys that could not be checked (as in the ``unchecked`` of an
        :class:`~seqsim.embed_runs.EmbedReport`).

    Raises
    ------
    AudioChangedError
        Naming the store, how many keys changed, and the first ones with both audio.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim.provenance import check_audio, identify
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float16", "hidden_states": 7}
    >>> spoken, other = (np.full(1600, 0.1), 16_000), (np.full(1600, 0.2), 16_000)
    >>> folder = tempfile.TemporaryDirectory()
    >>> store = EmbeddingStore(folder.name)
    >>> with store.writer(settings) as writer:
    ...     writer.add("en/s01", {6: np.ones((3, 4))}, identify(spoken))
    >>> check_audio(store, [("en/s01", spoken)])
    []
    >>> check_audio(store, [("en/s01", other)])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.provenance.AudioChangedError: /... holds 1 utterance(s) made from other audio \
than given now: en/s01 was in-memory audio ..., is now in-memory audio ...; ...
    >>> folder.cleanup()
    """
    changed, unchecked = audio_changes(store, utterances)
    if changed:
        raise AudioChangedError(store.path, changed)
    return unchecked
