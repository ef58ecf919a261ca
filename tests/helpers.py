"""Test helpers shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

LANGS = ("aa", "bb", "cc")
SENTENCES = 5


def random_sequences(
    rng: np.random.Generator, count: int, dim: int, min_len: int = 1, max_len: int = 20
) -> list[np.ndarray]:
    """``count`` float32 sequences of random lengths in [min_len, max_len]."""
    return [
        rng.standard_normal((int(rng.integers(min_len, max_len + 1)), dim)).astype(np.float32)
        for _ in range(count)
    ]


def tone(seconds: float, rate: int = 16_000, frequency: float = 440.0) -> np.ndarray:
    """A float32 sine with a little noise, so that every window differs."""
    t = np.arange(int(round(seconds * rate))) / rate
    noise = np.random.default_rng(int(seconds * 1000)).standard_normal(t.size) * 0.01
    return (0.3 * np.sin(2 * np.pi * frequency * t) + noise).astype(np.float32)


def write_manifest(folder: Path, langs=LANGS, sentences=SENTENCES, name="corpus.tsv") -> Path:
    """Each sentence a tone of its own pitch, a little shifted per language."""
    rows = ["id\tlang\tpath"]
    for number, lang in enumerate(langs):
        for k in range(sentences):
            path = folder / "audio" / f"{number}" / f"{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            seconds = 0.5 + 0.1 * k
            soundfile.write(path, tone(seconds, frequency=200.0 + 150 * k + 3 * number), 16_000)
            rows.append(f"{k}\t{lang}\taudio/{number}/{k}.wav")
    manifest = folder / name
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return manifest
