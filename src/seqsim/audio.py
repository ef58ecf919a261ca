"""Reading and checking audio: any file soundfile reads, mixed to mono float32 at 16 kHz."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16_000
"""Whisper's sample rate."""


class AudioError(ValueError):
    """Audio that cannot be embedded; the message names the file or item and the problem."""


@dataclass(frozen=True)
class Audio:
    """Raw audio with its sample rate; ``samples`` is (frames,) or (frames, channels)."""

    samples: np.ndarray
    sample_rate: int


AudioInput = str | Path | Audio | tuple[np.ndarray, int]
"""What the embedder accepts: a file path, an :class:`Audio`, or ``(samples, sample_rate)``."""


def describe(source: AudioInput) -> str:
    """A short name for error messages: the path, or ``array`` for in-memory audio."""
    return str(source) if isinstance(source, (str, Path)) else "in-memory audio"


def read_audio(path: str | Path) -> Audio:
    """Read a file with soundfile as float32 (integer PCM is scaled to [-1, 1])."""
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

    Channels are averaged; resampling uses soxr's high-quality filter (never sample dropping).
    Rejects a non-positive sample rate, NaN or infinite samples, empty and all-silent audio.
    """
    if audio.sample_rate <= 0:
        raise AudioError(f"{name}: sample rate must be positive, got {audio.sample_rate}")
    samples = np.asarray(audio.samples)
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
    if audio.sample_rate != SAMPLE_RATE:
        samples = soxr.resample(samples, audio.sample_rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(samples, dtype=np.float32)


def load(source: AudioInput) -> np.ndarray:
    """Any :data:`AudioInput` as checked mono float32 samples at 16 kHz."""
    if isinstance(source, (str, Path)):
        audio = read_audio(source)
    elif isinstance(source, Audio):
        audio = source
    elif isinstance(source, tuple) and len(source) == 2:
        audio = Audio(np.asarray(source[0]), int(source[1]))
    else:
        raise AudioError(
            f"cannot read audio from a {type(source).__name__}: pass a path, an Audio "
            "or a (samples, sample_rate) tuple"
        )
    return to_mono_16k(audio, describe(source))
