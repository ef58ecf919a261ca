"""Regenerate the bundled demo corpus: every sentence of sentences.tsv spoken with espeak-ng in
each language, saved as 16 kHz mono Ogg Vorbis under src/seqsim/data/demo/audio/LANG/ID.ogg, plus
manifest.tsv. espeak-ng is needed here only (apt-get install espeak-ng), never at run time.

    python scripts/make_demo_corpus.py
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import soxr

DEMO = Path(__file__).resolve().parent.parent / "src" / "seqsim" / "data" / "demo"
VOICES = {"en": "en-us", "fr": "fr", "de": "de", "es": "es", "it": "it"}
SAMPLE_RATE = 16_000


def speak(text: str, voice: str) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", wav.name, text], check=True)
        samples, rate = soundfile.read(wav.name, dtype="float32")
    return soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ")


def main() -> None:
    with open(DEMO / "sentences.tsv", newline="", encoding="utf-8") as handle:
        sentences = list(csv.DictReader(handle, delimiter="\t"))
    rows = []
    for sentence in sentences:
        for lang, voice in VOICES.items():
            relative = Path("audio") / lang / f"{sentence['id']}.ogg"
            target = DEMO / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(
                target, speak(sentence[lang], voice), SAMPLE_RATE, format="OGG", subtype="VORBIS"
            )
            rows.append(
                [sentence["id"], lang, relative.as_posix(), sentence[lang], f"espeak-ng:{voice}"]
            )
    with open(DEMO / "manifest.tsv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "lang", "path", "text", "speaker"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} utterances to {DEMO}")


if __name__ == "__main__":
    main()
