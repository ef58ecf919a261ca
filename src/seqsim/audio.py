"""Reading and checking audio: any file soundfile reads, mixed to mono float32 at 16 kHz."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16_000
"""Whisper's sample rate."""


class AudioError(ValueError):
    """Audio that cannot be embedded; the message names the file or item and the problem.

    A ``ValueError``. :meth:`seqsim.WhisperEmbedder.embed` raises it;
    :meth:`~seqsim.WhisperEmbedder.embed_iter` and an embedding store report it instead, so a
    long job goes on.

    Examples
    --------
    >>> import numpy as np
    >>> load((np.zeros(160), 16_000))
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: in-memory audio: audio is all silence (every sample is 0)
    """


@dataclass(frozen=True)
class Audio:
    """Raw audio with its sample rate, as read or as given; checked by :func:`to_mono_16k`.

    Parameters
    ----------
    samples : numpy.ndarray
        (frames,) or (frames, channels); float, or integer PCM (scaled to [-1, 1] when used).
    sample_rate : int
        Samples per second (a positive integer; :func:`to_mono_16k` checks it).

    Examples
    --------
    >>> import numpy as np
    >>> audio = Audio(np.zeros((8000, 2), np.float32), 8000)  # 1 s of stereo at 8 kHz
    >>> audio.samples.shape[0] / audio.sample_rate
    1.0
    """

    samples: np.ndarray
    sample_rate: int


AudioInput = str | Path | Audio | tuple[np.ndarray, int | float]
"""What the embedder accepts: a file path, an :class:`Audio`, or ``(samples, sample_rate)``
with an integer sample rate (or a float that is one, such as ``16000.0``)."""


def is_one_input(source: object) -> bool:
    """Whether ``source`` is one :data:`AudioInput` (one utterance) rather than several.

    A path, an :class:`Audio`, or a 2-tuple whose second item is a number: the sample rate of
    ``(samples, sample_rate)``, checked when the audio is read (:func:`load`). Any other value,
    a tuple of two paths included, is taken as several inputs.

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
    >>> samples = np.zeros(16)
    >>> is_one_input((samples, 16_000)), is_one_input((samples, 16_000.0))
    (True, True)
    >>> is_one_input(("a.wav", "b.wav")), is_one_input([(samples, 16_000)])
    (False, False)
    """
    if isinstance(source, (str, Path, Audio)):
        return True
    return isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], numbers.Real)


def _sample_rate(value: object, name: str) -> int:
    """``value`` as a sample rate: a positive integer, or a float that is one (``16000.0``)."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not float(value).is_integer()
    ):
        raise AudioError(f"{name}: sample rate must be a whole number, got {value!r}")
    rate = int(float(value))  # exact for any whole number below 2**53
    if rate <= 0:
        raise AudioError(f"{name}: sample rate must be positive, got {rate}")
    return rate


def describe(source: AudioInput) -> str:
    """A short name for error messages: the path, or ``"in-memory audio"`` for the others.

    Parameters
    ----------
    source : AudioInput
        A path, an :class:`Audio` or a ``(samples, sample_rate)`` tuple.

    Returns
    -------
    str
        The name.

    Examples
    --------
    >>> import numpy as np
    >>> describe("speech/en/s01.ogg"), describe((np.zeros(16), 16_000))
    ('speech/en/s01.ogg', 'in-memory audio')
    """
    return str(source) if isinstance(source, (str, Path)) else "in-memory audio"


def read_audio(path: str | Path) -> Audio:
    """Read a file with soundfile as float32 (integer PCM is scaled to [-1, 1]).

    Any format soundfile (libsndfile) reads (WAV, FLAC, OGG, ...). Nothing is checked beyond
    readability: :func:`to_mono_16k` does that.

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
        Naming the file, when it does not exist or soundfile cannot read it (unreadable or
        corrupt).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "tone.wav")
    ...     soundfile.write(path, np.array([0, 16384, -32768], np.int16), 16_000)
    ...     audio = read_audio(path)
    >>> audio.samples, audio.sample_rate
    (array([ 0. ,  0.5, -1. ], dtype=float32), 16000)
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    try:
        samples, sample_rate = soundfile.read(path, dtype="float32", always_2d=False)
    except Exception as error:  # soundfile raises several types for corrupt files
        raise AudioError(f"{path}: unreadable or corrupt audio ({error})") from None
    return Audio(samples, int(sample_rate))


def to_mono_16k(audio: Audio, name: str) -> np.ndarray:
    """Mono float32 samples at 16 kHz, after checks that name ``name`` on failure.

    Integer PCM is scaled to [-1, 1]; channels are averaged; resampling uses soxr's
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
        For a sample rate that is not a positive whole number, samples that are not numbers
        or are neither (samples,) nor (samples, channels), empty audio, NaN or infinite samples,
        and all-silent audio (every sample 0).

    Examples
    --------
    Stereo at 8 kHz becomes mono with twice the samples:

    >>> import numpy as np
    >>> len(to_mono_16k(Audio(np.full((800, 2), 0.1, np.float32), 8000), "clip"))
    1600
    >>> to_mono_16k(Audio(np.array([[0.25, 0.75]], np.float32), 16_000), "clip")
    array([0.5], dtype=float32)
    >>> to_mono_16k(Audio(np.ones(10, np.float32), 0), "clip")
    Traceback (most recent call last):
        ...
    seqsim.audio.AudioError: clip: sample rate must be positive, got 0
    """
    sample_rate = _sample_rate(audio.sample_rate, name)
    samples = np.asarray(audio.samples)
    if samples.dtype.kind not in "iuf":
        raise AudioError(f"{name}: samples must be numbers, got an array of dtype {samples.dtype}")
    if samples.dtype.kind in "iu":
        samples = samples / float(np.iinfo(samples.dtype).max + 1)
    samples = samples.astype(np.float32, copy=False)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    elif samples.ndim != 1:
        raise AudioError(f"{name}: expected (samples,) or (samples, channels), got {samples.shape}")
    if samples.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if not np.isfinite(samples).all():
        raise AudioError(f"{name}: audio contains NaN or infinite samples")
    if not np.any(samples):
        raise AudioError(f"{name}: audio is all silence (every sample is 0)")
    if sample_rate != SAMPLE_RATE:
        samples = soxr.resample(samples, sample_rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(samples, dtype=np.float32)


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
    >>> load((np.array([0.5, -0.5]), 16_000.0))
    array([ 0.5, -0.5], dtype=float32)
    >>> load((np.array([0.5, -0.5]), 16_000.5))
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
            f"cannot read audio from a {type(source).__name__}: pass a path, an Audio "
            "or a (samples, sample_rate) tuple"
        )
    name = describe(source)
    if isinstance(source, (str, Path)):
        audio = read_audio(source)
    elif isinstance(source, Audio):
        audio = source
    else:
        audio = Audio(np.asarray(source[0]), _sample_rate(source[1], name))
    return to_mono_16k(audio, name)
