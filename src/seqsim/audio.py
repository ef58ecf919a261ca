"""Reading and checking audio: any file soundfile reads, mixed to mono float32 at 16 kHz."""

from __future__ import annotations

import dataclasses
import functools
import io
import numbers
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16_000
"""Whisper's sample rate."""
SAMPLES_PER_FRAME = 320
"""Samples per encoder frame at 16 kHz: 10 ms mel hop x 2 (the second conv has stride 2)."""
MIN_SAMPLE_RATE = 4_000
"""The lowest sample rate accepted: 4 kHz carries speech up to 2 kHz, less than the telephone
band (8 kHz); a lower rate is a wrong header or a wrong number, not a recording of speech."""
MAX_CHANNELS = 8
"""The most channels an array of samples may have: the shorter axis of a 2-D array, when it
has at most this many entries and the other more, is its channel axis (so torchaudio's
(channels, samples) and soundfile's (samples, channels) are both read the right way)."""
SILENCE_PEAK = 2.0**-15
"""Audio whose every sample is within this of 0 (one step of 16-bit PCM, -90 dBFS) is silent:
zeros, dither, or channels that cancel when mixed to mono."""
SHORT_AUDIO_SECONDS = 0.1
"""Audio shorter than this (five encoder frames) is embedded, with a warning: no spoken
sentence is that short, so it is more likely a cut, empty or damaged recording. Audio shorter
than one encoder frame (:data:`SAMPLES_PER_FRAME` at 16 kHz, 20 ms) is refused."""
_UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)
"""What a streaming writer puts in a WAV header whose data size it does not know yet."""


class AudioError(ValueError):
    """Audio that cannot be embedded; the message names the file or item and the problem.

    A ``ValueError``. :meth:`seqsim.WhisperEmbedder.embed` raises it;
    :meth:`~seqsim.WhisperEmbedder.embed_iter` and an embedding store report it instead, so a
    long job goes on.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.audio import load
    >>> load((np.zeros(160), 16_000))
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: in-memory audio: audio is all silence (every sample within \
1/32768 of 0)
    """


class ShortAudioWarning(UserWarning):
    """Audio shorter than :data:`SHORT_AUDIO_SECONDS`: embedded, but worth checking.

    Examples
    --------
    >>> import warnings
    >>> from seqsim.audio import ShortAudioWarning, short_audio_note
    >>> note = short_audio_note("clip.wav", 800)
    >>> note
    'clip.wav: 0.05 s of audio is implausibly short for an utterance (under 0.1 s)'
    >>> issubclass(ShortAudioWarning, UserWarning)
    True
    """


def short_audio_note(name: str, num_samples: int) -> str | None:
    """What to say of audio of ``num_samples`` at 16 kHz when it is implausibly short.

    Parameters
    ----------
    name : str
        What messages call it (:func:`describe`).
    num_samples : int
        Its length at :data:`SAMPLE_RATE`.

    Returns
    -------
    str or None
        A note naming it and its duration, for audio shorter than
        :data:`SHORT_AUDIO_SECONDS`; None for longer audio.

    Examples
    --------
    >>> from seqsim.audio import short_audio_note
    >>> short_audio_note("s01.wav", 1072)
    's01.wav: 0.067 s of audio is implausibly short for an utterance (under 0.1 s)'
    >>> short_audio_note("s01.wav", 48_000) is None
    True
    """
    if num_samples >= SHORT_AUDIO_SECONDS * SAMPLE_RATE:
        return None
    return (
        f"{name}: {num_samples / SAMPLE_RATE:.4g} s of audio is implausibly short for an "
        f"utterance (under {SHORT_AUDIO_SECONDS:g} s)"
    )


@dataclass(frozen=True)
class Audio:
    """Raw audio with its sample rate, as read or as given; checked by :func:`to_mono_16k`.

    Parameters
    ----------
    samples : numpy.ndarray
        (frames,), (frames, channels) or (channels, frames) (:func:`channel_axis`); float, or
        integer PCM (scaled to [-1, 1] when used).
    sample_rate : int
        Samples per second (a positive integer; :func:`to_mono_16k` checks it).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.audio import Audio
    >>> audio = Audio(np.zeros((8000, 2), np.float32), 8000)  # 1 s of stereo at 8 kHz
    >>> audio.samples.shape[0] / audio.sample_rate
    1.0
    """

    samples: np.ndarray
    sample_rate: int


@dataclass(frozen=True)
class LazyAudio:
    """Audio that is read only when it is embedded: a dataset row, a lhotse cut.

    Parameters
    ----------
    read : callable
        Called without arguments when the audio is needed; returns any other
        :data:`AudioInput` (a path, an :class:`Audio`, a ``(samples, sample_rate)`` tuple, a
        Hugging Face audio dict, ...).
    name : str
        What error messages call it (:func:`describe`).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.audio import LazyAudio, describe, load
    >>> lazy = LazyAudio(lambda: (np.full(8000, 0.1), 8000), "row 3 of the dataset")
    >>> len(load(lazy)), describe(lazy)
    (16000, 'row 3 of the dataset')
    """

    read: Callable[[], AudioInput]
    name: str


AudioInput: TypeAlias = (
    str | Path | Audio | LazyAudio | tuple[np.ndarray, int | float] | Mapping[str, Any]
)
"""What the embedder accepts as one utterance: a file path, an :class:`Audio`, a
``(samples, sample_rate)`` tuple with an integer sample rate (or a float that is one, such as
``16000.0``), a Hugging Face ``datasets`` audio dict (``{"array", "sampling_rate", "path"}``
decoded, or ``{"bytes", "path"}`` not decoded), a decoded ``datasets`` audio object (a
torchcodec ``AudioDecoder``: anything with ``get_all_samples()``), or a :class:`LazyAudio`."""

_AUDIO_DICT_KEYS = ("array", "bytes", "path")
"""A mapping with any of these keys is one Hugging Face audio dict."""


def is_one_input(source: object) -> bool:
    """Whether ``source`` is one :data:`AudioInput` (one utterance) rather than several.

    A path, an :class:`Audio`, a :class:`LazyAudio`, a 2-tuple whose second item is a number
    (the sample rate of ``(samples, sample_rate)``, checked when the audio is read by
    :func:`load`), a mapping with an ``array``, ``bytes`` or ``path`` key (a Hugging Face
    audio dict), or an object with a ``get_all_samples`` method (the torchcodec decoder that
    ``datasets`` 4 and later give for a row's audio). Any other value, a tuple of two paths
    and a ``datasets.Dataset`` included, is taken as several inputs.

    Parameters
    ----------
    source : object
        What a caller passed as audio.

    Returns
    -------
    bool
        True for one input.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.audio import is_one_input
    >>> samples = np.zeros(16)
    >>> is_one_input((samples, 16_000)), is_one_input((samples, 16_000.0))
    (True, True)
    >>> is_one_input(("a.wav", "b.wav")), is_one_input([(samples, 16_000)])
    (False, False)
    >>> is_one_input({"array": samples, "sampling_rate": 16_000, "path": None})
    True
    """
    if isinstance(source, (str, Path, Audio, LazyAudio)):
        return True
    if isinstance(source, Mapping):
        return any(key in source for key in _AUDIO_DICT_KEYS)
    if callable(getattr(source, "get_all_samples", None)):
        return True
    return isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], numbers.Real)


def _sample_rate(value: object, name: str) -> int:
    """``value`` as a sample rate: an integer of at least :data:`MIN_SAMPLE_RATE`, or a float
    that is one (``16000.0``)."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not float(value).is_integer()
    ):
        raise AudioError(f"{name}: sample rate must be a whole number, got {value!r}")
    rate = int(float(value))  # exact for any whole number below 2**53
    if rate <= 0:
        raise AudioError(f"{name}: sample rate must be positive, got {rate}")
    if rate < MIN_SAMPLE_RATE:
        raise AudioError(
            f"{name}: a sample rate of {rate} Hz is below {MIN_SAMPLE_RATE} Hz, too low for speech"
        )
    return rate


def describe(source: AudioInput) -> str:
    """A short name for error messages: the path (a Hugging Face audio dict's too), a
    :class:`LazyAudio`'s name, or ``"in-memory audio"`` for the others.

    Parameters
    ----------
    source : AudioInput
        Any :data:`AudioInput`.

    Returns
    -------
    str
        The name.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.audio import describe
    >>> describe("speech/en/s01.ogg"), describe((np.zeros(16), 16_000))
    ('speech/en/s01.ogg', 'in-memory audio')
    >>> describe({"array": np.zeros(16), "sampling_rate": 16_000, "path": "clip.wav"})
    'clip.wav'
    """
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, LazyAudio):
        return source.name
    if isinstance(source, Mapping) and source.get("path"):
        return str(source["path"])
    return "in-memory audio"


def read_audio(path: str | Path) -> Audio:
    """Read a file with soundfile as float32 (integer PCM is scaled to [-1, 1]).

    Any format soundfile (libsndfile) reads (WAV, FLAC, OGG, ...). Beyond readability, only a
    truncated WAV file is refused (:func:`check_wav_length`; libsndfile would read what is
    there); :func:`to_mono_16k` checks the samples.

    Parameters
    ----------
    path : str or pathlib.Path
        The audio file.

    Returns
    -------
    Audio
        Samples (frames,) for mono, (frames, channels) otherwise, and the file's sample rate.

    Raises
    ------
    AudioError
        Naming the file, when it does not exist or is not a regular file (a directory, a FIFO:
        :func:`check_regular_file`), soundfile cannot read it (unreadable or corrupt), or it
        is a truncated WAV file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile
    >>> from seqsim.audio import read_audio
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "tone.wav")
    ...     soundfile.write(path, np.array([0, 16384, -32768], np.int16), 16_000)
    ...     audio = read_audio(path)
    >>> audio.samples, audio.sample_rate
    (array([ 0. ,  0.5, -1. ], dtype=float32), 16000)
    """
    path = Path(path)
    check_regular_file(path)
    try:
        with open(path, "rb") as handle:
            check_wav_length(handle, str(path))
        samples, sample_rate = soundfile.read(path, dtype="float32", always_2d=False)
    except AudioError:
        raise
    except Exception as error:  # soundfile raises several types for corrupt files
        raise AudioError(f"{path}: unreadable or corrupt audio ({error})") from None
    return Audio(samples, int(sample_rate))


def check_regular_file(path: Path) -> None:
    """Refuse a path that is not a regular file, without opening it.

    Opening a FIFO would wait for a writer, and a directory or a device holds no audio file:
    each is named for what it is, not reported as missing. A symbolic link is followed.

    Parameters
    ----------
    path : pathlib.Path
        The audio file.

    Raises
    ------
    AudioError
        ``<path>: file not found``, ``<path>: is a directory`` or ``<path>: is not a regular
        file (a FIFO)`` (or a socket, a character or block device).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.audio import check_regular_file
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     check_regular_file(Path(folder))
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: ...: is a directory
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AudioError(f"{path}: file not found") from None
    except OSError as error:
        raise AudioError(f"{path}: cannot read the file ({error.strerror or error})") from None
    if stat.S_ISDIR(mode):
        raise AudioError(f"{path}: is a directory")
    if not stat.S_ISREG(mode):
        raise AudioError(f"{path}: is not a regular file ({_file_kind(mode)})")


def _file_kind(mode: int) -> str:
    """What a file that is neither regular nor a directory is, from its ``st_mode``."""
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    return next((kind for test, kind in kinds.items() if test(mode)), "an unknown kind of file")


def check_wav_length(handle: BinaryIO, name: str) -> None:
    """Refuse a WAV file whose header claims more audio than the file holds.

    libsndfile reads a truncated WAV file without an error, as far as its data goes, so a
    cut copy would be embedded as if it were whole. Other formats are left to libsndfile
    (a truncated FLAC or OGG file fails to decode). A data size of 0 or 0xFFFFFFFF (a writer
    that streamed the file and never went back to fill it in) is not a claim, and passes.

    Parameters
    ----------
    handle : BinaryIO
        The file, open for reading at its start (read and moved by this check).
    name : str
        What the error calls it.

    Raises
    ------
    AudioError
        For a RIFF/WAVE file whose ``data`` chunk claims more bytes than follow it, with both
        durations.

    Examples
    --------
    A header that claims 1.9 s over 0.067 s of samples:

    >>> import io
    >>> import numpy as np, soundfile
    >>> from seqsim.audio import check_wav_length
    >>> whole = io.BytesIO()
    >>> soundfile.write(whole, np.full(30_400, 0.1), 16_000, format="WAV", subtype="PCM_16")
    >>> check_wav_length(io.BytesIO(whole.getvalue()), "whole.wav")
    >>> check_wav_length(io.BytesIO(whole.getvalue()[: 44 + 2 * 1072]), "cut.wav")
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: cut.wav: truncated WAV file: its header claims 1.900 s of audio, \
the file holds 0.067 s
    """
    header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return
    end = handle.seek(0, io.SEEK_END)
    handle.seek(12)
    bytes_per_second = 0
    while len(chunk := handle.read(8)) == 8:
        kind, length = chunk[:4], int.from_bytes(chunk[4:], "little")
        start = handle.tell()
        if kind == b"fmt " and length >= 16:
            bytes_per_second = int.from_bytes(handle.read(16)[8:12], "little")
        elif kind == b"data":
            present = end - start
            if length in _UNKNOWN_WAV_SIZES or length <= present or not bytes_per_second:
                return
            raise AudioError(
                f"{name}: truncated WAV file: its header claims "
                f"{length / bytes_per_second:.3f} s of audio, the file holds "
                f"{present / bytes_per_second:.3f} s"
            )
        handle.seek(start + length + (length & 1))  # chunks are padded to an even size


def to_mono_16k(audio: Audio, name: str) -> np.ndarray:
    """Mono float32 samples at 16 kHz, after checks that name ``name`` on failure.

    Integer PCM is scaled to [-1, 1]; channels are averaged (a 2-D array may be
    (samples, channels) or (channels, samples): :func:`channel_axis`); resampling uses soxr's
    high-quality filter (never sample dropping).

    Parameters
    ----------
    audio : Audio
        The raw audio.
    name : str
        What error messages call it (see :func:`describe`).

    Returns
    -------
    numpy.ndarray
        Contiguous float32 samples, (samples,), at :data:`SAMPLE_RATE`.

    Raises
    ------
    AudioError
        For a sample rate that is not a whole number of at least :data:`MIN_SAMPLE_RATE`,
        samples that are not numbers or whose shape is not (samples,), (samples, channels) or
        (channels, samples), empty audio, NaN or infinite samples, silent audio (every sample
        within :data:`SILENCE_PEAK` of 0 once the channels are mixed, so channels that cancel
        out are silent too), and audio shorter than one encoder frame (20 ms).

    Examples
    --------
    Stereo at 8 kHz becomes mono with twice the samples, whichever axis holds the channels:

    >>> import numpy as np
    >>> from seqsim.audio import Audio, to_mono_16k
    >>> stereo = np.stack([np.full(800, 0.1), np.full(800, 0.3)], axis=1).astype(np.float32)
    >>> len(to_mono_16k(Audio(stereo, 8000), "clip"))
    1600
    >>> to_mono_16k(Audio(stereo.T, 16_000), "clip")[:3]
    array([0.2, 0.2, 0.2], dtype=float32)
    >>> to_mono_16k(Audio(np.full(800, 0.1, np.float32), 3), "clip")
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: clip: a sample rate of 3 Hz is below 4000 Hz, too low for speech
    >>> to_mono_16k(Audio(np.stack([stereo[:, 0], -stereo[:, 0]]), 8000), "clip")
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: clip: audio is all silence once its 2 channels are mixed to mono \
(they cancel out): every sample within 1/32768 of 0
    >>> to_mono_16k(Audio(np.full(16, 0.1, np.float32), 16_000), "clip")
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: clip: 1 ms of audio is shorter than one encoder frame (20 ms)
    """
    sample_rate = _sample_rate(audio.sample_rate, name)
    samples = _as_float32(np.asarray(audio.samples), name)
    if samples.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if not np.isfinite(samples).all():
        raise AudioError(f"{name}: audio contains NaN or infinite samples")
    mono = _mixed_down(samples, name)
    _check_not_silent(mono, samples, name)
    _check_duration(len(mono), sample_rate, name)
    if sample_rate != SAMPLE_RATE:
        mono = soxr.resample(mono, sample_rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _as_float32(samples: np.ndarray, name: str) -> np.ndarray:
    """``samples`` as float32; integer PCM scaled to [-1, 1]."""
    if samples.dtype.kind not in "iuf":
        raise AudioError(f"{name}: samples must be numbers, got an array of dtype {samples.dtype}")
    if samples.dtype.kind in "iu":
        scale = np.float32(1.0 / (np.iinfo(samples.dtype).max + 1))  # a power of 2: exact
        return samples.astype(np.float32) * scale
    return samples.astype(np.float32, copy=False)


def channel_axis(shape: tuple[int, int], name: str) -> int:
    """The axis of a 2-D array of samples that holds its channels.

    It is the axis with at most :data:`MAX_CHANNELS` entries while the other has more:
    soundfile gives (samples, channels), torchaudio and torchcodec (channels, samples).

    Parameters
    ----------
    shape : tuple of int
        The array's shape.
    name : str
        What the error calls the audio.

    Returns
    -------
    int
        1 for (samples, channels), 0 for (channels, samples).

    Raises
    ------
    AudioError
        Naming the audio and the shape, where no axis, or both, could be the channels'.

    Examples
    --------
    >>> from seqsim.audio import channel_axis
    >>> channel_axis((48_000, 2), "clip"), channel_axis((2, 48_000), "clip")
    (1, 0)
    >>> channel_axis((6, 4), "clip")
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: clip: cannot tell samples from channels in an array of shape \
(6, 4): give (samples, channels) or (channels, samples), at most 8 channels and more samples
    """
    rows, columns = shape
    if columns <= MAX_CHANNELS < rows:
        return 1
    if rows <= MAX_CHANNELS < columns:
        return 0
    raise AudioError(
        f"{name}: cannot tell samples from channels in an array of shape {tuple(shape)}: give "
        f"(samples, channels) or (channels, samples), at most {MAX_CHANNELS} channels and more "
        "samples"
    )


def _mixed_down(samples: np.ndarray, name: str) -> np.ndarray:
    """Mono samples: the mean of the channels of a 2-D array, a 1-D array as it is."""
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise AudioError(
            f"{name}: expected (samples,), (samples, channels) or (channels, samples), got "
            f"{samples.shape}"
        )
    return samples.mean(axis=channel_axis(samples.shape, name), dtype=np.float32)


def _check_not_silent(mono: np.ndarray, samples: np.ndarray, name: str) -> None:
    """Refuse mono audio within :data:`SILENCE_PEAK` of 0; say so when the channels of
    ``samples`` (what it was mixed from) were not silent themselves, but cancel out."""
    if np.abs(mono).max() > SILENCE_PEAK:
        return
    floor = f"every sample within 1/{round(1 / SILENCE_PEAK)} of 0"
    if samples.ndim == 2 and np.abs(samples).max() > SILENCE_PEAK:
        channels = min(samples.shape)
        raise AudioError(
            f"{name}: audio is all silence once its {channels} channels are mixed to mono "
            f"(they cancel out): {floor}"
        )
    raise AudioError(f"{name}: audio is all silence ({floor})")


def _check_duration(num_samples: int, sample_rate: int, name: str) -> None:
    """Refuse audio shorter than one encoder frame (:data:`SAMPLES_PER_FRAME` at 16 kHz)."""
    if num_samples * SAMPLE_RATE < SAMPLES_PER_FRAME * sample_rate:
        raise AudioError(
            f"{name}: {1000 * num_samples / sample_rate:.3g} ms of audio is shorter than one "
            f"encoder frame ({1000 * SAMPLES_PER_FRAME / SAMPLE_RATE:g} ms)"
        )


def load(source: AudioInput) -> np.ndarray:
    """Any :data:`AudioInput` as checked mono float32 samples at 16 kHz.

    Parameters
    ----------
    source : AudioInput
        A file path (read by :func:`read_audio`), an :class:`Audio`, or a
        ``(samples, sample_rate)`` tuple (what :func:`is_one_input` accepts).

    Returns
    -------
    numpy.ndarray
        float32 samples at :data:`SAMPLE_RATE`, from :func:`to_mono_16k`.

    Raises
    ------
    AudioError
        For any other kind of ``source``, and for every problem :func:`read_audio` and
        :func:`to_mono_16k` find (such as a sample rate of ``16000.5``); the message names the
        file, or says ``in-memory audio``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.audio import load
    >>> load((np.tile([0.5, -0.5], 200), 16_000.0))[:4]
    array([ 0.5, -0.5,  0.5, -0.5], dtype=float32)
    >>> load((np.tile([0.5, -0.5], 200), 16_000.5))
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: in-memory audio: sample rate must be a whole number, got 16000.5
    >>> load("no/such/file.wav")
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: no/such/file.wav: file not found
    """
    if not is_one_input(source):
        raise AudioError(
            f"cannot read audio from a {type(source).__name__}: pass a path, an Audio, "
            "a (samples, sample_rate) tuple or a Hugging Face audio dict"
        )
    name = describe(source)
    if isinstance(source, LazyAudio):
        return to_mono_16k(_raw(source.read(), name), name)
    return to_mono_16k(_raw(source, name), name)


def _raw(source: Any, name: str) -> Audio:
    """The :class:`Audio` of one input (a :class:`LazyAudio` already read), unchecked."""
    if isinstance(source, (str, Path)):
        return read_audio(source)
    if isinstance(source, Audio):
        return source
    if isinstance(source, Mapping):
        return _from_audio_dict(source, name)
    if callable(getattr(source, "get_all_samples", None)):
        decoded = source.get_all_samples()  # torchcodec AudioSamples: (channels, samples)
        return Audio(np.asarray(decoded.data).T, _sample_rate(decoded.sample_rate, name))
    if not is_one_input(source):
        raise AudioError(f"{name}: read gave a {type(source).__name__}, not one audio input")
    return Audio(np.asarray(source[0]), _sample_rate(source[1], name))


def _from_audio_dict(source: Mapping[str, Any], name: str) -> Audio:
    """A Hugging Face audio dict: decoded (``array``, ``sampling_rate``), else its ``bytes``
    (an encoded file), else the file at its ``path``."""
    if source.get("array") is not None:
        if "sampling_rate" not in source:
            raise AudioError(f"{name}: an audio dict with 'array' needs 'sampling_rate'")
        return Audio(np.asarray(source["array"]), _sample_rate(source["sampling_rate"], name))
    if source.get("bytes") is not None:
        try:
            check_wav_length(io.BytesIO(source["bytes"]), name)
            samples, rate = soundfile.read(io.BytesIO(source["bytes"]), dtype="float32")
        except AudioError:
            raise
        except Exception as error:  # soundfile raises several types for corrupt data
            raise AudioError(f"{name}: unreadable or corrupt audio bytes ({error})") from None
        return Audio(samples, int(rate))
    if source.get("path"):
        return read_audio(source["path"])
    raise AudioError(f"{name}: an audio dict needs 'array' and 'sampling_rate', 'bytes' or 'path'")


def is_dataset(source: object) -> bool:
    """Whether ``source`` is a Hugging Face ``datasets.Dataset`` (told by its attributes, so
    that ``datasets`` need not be installed).

    Parameters
    ----------
    source : object
        What a caller passed as audio.

    Returns
    -------
    bool
        True for an object with ``features``, ``column_names`` and ``cast_column``.

    Examples
    --------
    >>> from seqsim.audio import is_dataset
    >>> is_dataset(["a.wav"]), is_dataset("a.wav")
    (False, False)
    """
    return all(hasattr(source, name) for name in ("features", "column_names", "cast_column"))


def dataset_audio(dataset: Any, audio_column: str | None = None) -> list[LazyAudio]:
    """One :class:`LazyAudio` per row of a Hugging Face ``Dataset``'s audio column.

    The audio is read by seqsim (soundfile, then resampled to 16 kHz), not decoded by
    ``datasets``: the column is read with ``decode=False``, so that no torchcodec or FFmpeg
    is needed and the column's own ``sampling_rate`` does not matter.

    Parameters
    ----------
    dataset : datasets.Dataset
        A dataset with an ``Audio`` column.
    audio_column : str, optional
        The column; by default the dataset's only ``Audio`` feature.

    Returns
    -------
    list of LazyAudio
        In row order, each named ``row <i> of column '<audio_column>'``.

    Raises
    ------
    ValueError
        When ``audio_column`` is not a column, not an ``Audio`` feature, or, when not given,
        the dataset has no ``Audio`` column or several.

    Examples
    --------
    A dataset of one 0.1 s file at 8 kHz (``datasets`` is an optional dependency):

    >>> import os, tempfile
    >>> import numpy as np, soundfile
    >>> import datasets
    >>> from seqsim.audio import dataset_audio, load
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "clip.wav")
    >>> soundfile.write(path, np.full(800, 0.1), 8000)
    >>> table = datasets.Dataset.from_dict({"id": ["s1"], "audio": [path]})
    >>> table = table.cast_column("audio", datasets.Audio(sampling_rate=16_000))
    >>> [(item.name, len(load(item))) for item in dataset_audio(table)]
    [("row 0 of column 'audio'", 1600)]
    >>> folder.cleanup()
    """
    audio = {name: f for name, f in dataset.features.items() if type(f).__name__ == "Audio"}
    if audio_column is None:
        if len(audio) != 1:
            found = ", ".join(repr(name) for name in audio) or "none"
            raise ValueError(
                f"the dataset needs exactly one Audio column, found {found} (columns "
                f"{dataset.column_names}): name it with audio_column="
            )
        audio_column = next(iter(audio))
    elif audio_column not in audio:
        kind = "not a column" if audio_column not in dataset.features else "not an Audio feature"
        raise ValueError(
            f"audio_column {audio_column!r} is {kind} of the dataset (columns "
            f"{dataset.column_names})"
        )
    undecoded = dataset.select_columns([audio_column]).cast_column(
        audio_column, dataclasses.replace(audio[audio_column], decode=False)
    )
    return [
        LazyAudio(
            functools.partial(_dataset_cell, undecoded, row, audio_column),
            f"row {row} of column {audio_column!r}",
        )
        for row in range(len(undecoded))
    ]


def _dataset_cell(dataset: Any, row: int, column: str) -> AudioInput:
    """One row's value of one column (an audio dict, for :func:`dataset_audio`)."""
    value: AudioInput = dataset[row][column]
    return value


def several_inputs(audio: Any, audio_column: str | None = None) -> list[AudioInput]:
    """The inputs of several utterances: a ``datasets.Dataset``'s audio column, or a list.

    Parameters
    ----------
    audio : Dataset or sequence of AudioInput
        A dataset (see :func:`dataset_audio`) or any sequence of inputs.
    audio_column : str, optional
        A dataset's audio column (only for a dataset).

    Returns
    -------
    list of AudioInput
        One per utterance, in order.

    Raises
    ------
    ValueError
        For ``audio_column`` with something that is not a dataset, and as
        :func:`dataset_audio` raises.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.audio import several_inputs
    >>> several_inputs(("a.wav", "b.wav"))
    ['a.wav', 'b.wav']
    >>> several_inputs(["a.wav"], audio_column="audio")
    Traceback (most recent call last):
        ...
    ValueError: audio_column is for a datasets.Dataset, not a list
    """
    if is_dataset(audio):
        return list(dataset_audio(audio, audio_column))
    if audio_column is not None:
        raise ValueError(f"audio_column is for a datasets.Dataset, not a {type(audio).__name__}")
    return list(audio)
