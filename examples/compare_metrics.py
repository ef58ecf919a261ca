"""Compare the four metrics (SeqSim, AvgSim, DTW, OT) by cross-lingual R@1 on one corpus.

Embeds the bundled demo corpus with the offline whisper-base (every encoder layer, so that the
store serves the other examples too), scores every ordered language pair with each metric on
one layer and prints R@1 (%) with metrics as rows and language pairs (query→candidate) and
their mean as columns: the shape of the study's Table 5.

Run (the whole demo: 200 utterances, 2 to 6 minutes to embed on 2 CPU cores)::

    python examples/compare_metrics.py
    python examples/compare_metrics.py --langs en,fr --sentences 4 --store my-store/
"""

from __future__ import annotations

import argparse
import tempfile

from seqsim import EmbeddingStore, WhisperEmbedder
from seqsim.corpus import demo_corpus
from seqsim.embed_runs import embed
from seqsim.evaluation import evaluate_grid
from seqsim.report import markdown_table, metric_comparison

MODEL = "whisper-base-offline"
METRICS = ["seqsim", "avgsim", "dtw", "ot"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", help="languages, comma-separated (default: en,fr,de,es,it)")
    parser.add_argument("--sentences", type=int, help="the first N sentences (default: all 40)")
    parser.add_argument("--layer", type=int, default=-1, help="encoder layer (default: last)")
    parser.add_argument("--store", help="keep the embeddings here (default: a temporary folder)")
    args = parser.parse_args()
    if args.sentences is not None and args.sentences < 1:
        parser.error("--sentences must be at least 1")
    corpus = demo_corpus(args.langs and args.langs.split(","), args.sentences)

    with tempfile.TemporaryDirectory() as temporary:
        store = EmbeddingStore(args.store or temporary)
        # What the store holds already is skipped: a second run only scores.
        embed(store, corpus.audio_items(), WhisperEmbedder(MODEL, layers="all"))
        results = evaluate_grid(corpus, store=store, layers=[args.layer], metrics=METRICS)

    table = metric_comparison({name: result for (name, _), result in results.items()})
    first = next(iter(results.values()))
    sentences = first.settings["sentences"]
    print(
        f"\nR@1 (%), {MODEL} layer {first.settings['layer']}, {sentences} sentences per "
        f"language (chance {100 / sentences:.1f} %):\n"
    )
    print(markdown_table(table))


if __name__ == "__main__":
    main()
