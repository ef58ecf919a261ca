"""Your own corpus end to end: a manifest TSV, a store of embeddings, an evaluation, a report.

1. Write a manifest (columns ``id``, ``lang``, ``path``) for audio laid out as
   ``AUDIO_DIR/LANG/ID.{wav,flac,ogg,mp3}``: the same ``ID`` in every language names one
   sentence. Any other layout works as long as you write the three columns.
2. Read it back with :func:`seqsim.corpus.read_manifest` (checks every row and audio file).
3. Embed every utterance into a store (resumable: run again and only the rest is embedded).
4. Evaluate cross-lingual retrieval from the store and write the report
   (``r_at_1.csv``, ``results.json``, ``ranks.csv``, ``heatmap.png``, ``report.md``).

Run (default audio: the bundled demo's, 40 sentences in 5 languages)::

    python examples/own_manifest.py --out my-corpus/
    python examples/own_manifest.py --audio-dir recordings/ --langs en,fr --sentences 4

The same from the command line, once the manifest is written::

    seqsim evaluate --manifest my-corpus/manifest.tsv --model whisper-base-offline --out report/
"""

from __future__ import annotations

import argparse
import csv
from importlib import resources
from pathlib import Path

from seqsim import EmbeddingStore, WhisperEmbedder
from seqsim.corpus import read_manifest
from seqsim.embed_runs import embed
from seqsim.evaluation import evaluate
from seqsim.report import markdown_table, write_report

MODEL = "whisper-base-offline"
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}


def write_manifest(
    audio_dir: Path, manifest: Path, langs: list[str] | None, sentences: int | None
) -> int:
    """One row per ``audio_dir/LANG/ID.ext`` (the first ``sentences`` ids of each language in
    ``langs``); absolute paths, so the manifest may live anywhere. Returns the row count."""
    rows = []
    for folder in sorted(entry for entry in audio_dir.iterdir() if entry.is_dir()):
        if langs is None or folder.name in langs:
            audio = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
            rows += [(path.stem, folder.name, str(path.resolve())) for path in audio[:sentences]]
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "lang", "path"])
        writer.writerows(rows)
    return len(rows)


def main() -> None:
    demo_audio = resources.files("seqsim") / "data" / "demo" / "audio"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio-dir", default=str(demo_audio), help="LANG/ID.ext audio files")
    parser.add_argument("--langs", help="languages, comma-separated (default: every folder)")
    parser.add_argument("--sentences", type=int, help="the first N files per language (all)")
    parser.add_argument("--layer", type=int, default=-1, help="encoder layer (default: last)")
    parser.add_argument("--out", default="own-manifest", help="where everything is written")
    parser.add_argument("--store", help="the embedding store (default: OUT/store)")
    args = parser.parse_args()
    if args.sentences is not None and args.sentences < 1:
        parser.error("--sentences must be at least 1")
    out = Path(args.out)

    manifest = out / "manifest.tsv"
    langs = args.langs.split(",") if args.langs else None
    rows = write_manifest(Path(args.audio_dir), manifest, langs, args.sentences)
    print(f"wrote {manifest} ({rows} utterances)")

    corpus = read_manifest(manifest)  # raises CorpusError naming file:line on a bad row
    store = EmbeddingStore(args.store or out / "store")
    # Every layer: the encoder computes them anyway, and the store then serves any of them.
    report = embed(store, corpus.audio_items(), WhisperEmbedder(MODEL, layers="all"))
    print(
        f"embedded {report.embedded}, already stored {report.skipped}, "
        f"failed {len(report.failures)} -> {store.path}"
    )

    result = evaluate(corpus, store=store, layer=args.layer, progress=False)
    files = write_report(result, out / "report")
    print(f"\nR@1 (%), settings {result.settings_hash}:\n")
    print(markdown_table(result.matrix("r@1")))
    chance = 100 / result.settings["sentences"]
    print(f"\nmean R@1 {100 * result.mean('r@1'):.1f} % (chance {chance:.1f} %)")
    print(f"report: {', '.join(str(path) for path in files.values())}")


if __name__ == "__main__":
    main()
