"""Retrieval with languages Whisper never saw: the demo's 40 sentences spoken by espeak-ng in
Esperanto (eo) and Interlingua (ia), two languages outside Whisper's training list, evaluated
against English, Spanish and Italian (their nearest relatives that Whisper lists) from the
bundled demo. Retrieval needs no language token, so nothing changes in the call.

Needs espeak-ng (apt-get install espeak-ng) and the `demo` extra; writes OUT/audio,
OUT/manifest.tsv, OUT/store and OUT/report (docs/unseen_languages.md shows a run):

    python scripts/unseen_languages.py --out unseen-languages
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import soundfile
from make_demo_corpus import DEMO, SAMPLE_RATE, speak
from transformers.models.whisper.tokenization_whisper import LANGUAGES

from seqsim.corpus import demo_corpus, read_manifest
from seqsim.evaluation import evaluate
from seqsim.report import markdown_table, write_report

UNSEEN_VOICES = {"eo": "eo", "ia": "ia"}
RELATIVES = ["en", "es", "it"]


def write_corpus(out: Path) -> Path:
    """Speak the unseen languages into ``out/audio`` and write a manifest that joins them to the
    bundled recordings of the relatives."""
    with open(DEMO / "sentences.tsv", newline="", encoding="utf-8") as handle:
        sentences = list(csv.DictReader(handle, delimiter="\t"))
    rows = [
        [u.id, u.lang, str(u.path), u.text or ""]
        for u in demo_corpus().utterances
        if u.lang in RELATIVES
    ]
    for lang, voice in UNSEEN_VOICES.items():
        assert lang not in LANGUAGES, f"{lang} is in Whisper's language list"
        for sentence in sentences:
            path = out / "audio" / lang / f"{sentence['id']}.ogg"
            path.parent.mkdir(parents=True, exist_ok=True)
            audio = speak(sentence[lang], voice)
            soundfile.write(path, audio, SAMPLE_RATE, format="OGG", subtype="VORBIS")
            rows.append([sentence["id"], lang, str(path.resolve()), sentence[lang]])
    manifest = out / "manifest.tsv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "lang", "path", "text"])
        writer.writerows(rows)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("unseen-languages"))
    parser.add_argument("--layer", type=int, default=6, help="whisper-base hidden state (6 = last)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = write_corpus(args.out)
    result = evaluate(
        read_manifest(manifest),
        model="whisper-base-offline",
        store=args.out / "store",
        layer=args.layer,
        metric="seqsim",
        langs=[*RELATIVES, *UNSEEN_VOICES],
    )
    write_report(result, args.out / "report")
    print(markdown_table(result.matrix("r@1")))


if __name__ == "__main__":
    main()
