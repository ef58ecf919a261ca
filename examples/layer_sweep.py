"""R@1 per encoder layer, as a table and a plot (the shape of the study's Figure 4).

Embeds the bundled demo corpus with the offline whisper-base, keeping every hidden state
(0 = the input embeddings, 6 = the final output), evaluates one metric on each, prints R@1 (%)
per layer (rows) and language pair (columns, with their mean) and plots the mean R@1 against
the layer with :func:`seqsim.report.plot_layer_ablation`.

Run (the whole demo: 2 to 6 minutes to embed on 2 CPU cores)::

    python examples/layer_sweep.py                      # writes layer_sweep.png
    python examples/layer_sweep.py --langs en,fr --sentences 4 --metric avgsim --png avg.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from seqsim import EmbeddingStore, WhisperEmbedder
from seqsim.corpus import demo_corpus
from seqsim.embed_runs import embed
from seqsim.evaluation import evaluate_grid
from seqsim.report import layer_ablation, markdown_table, metric_comparison, plot_layer_ablation

MODEL = "whisper-base-offline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", help="languages, comma-separated (default: en,fr,de,es,it)")
    parser.add_argument("--sentences", type=int, help="the first N sentences (default: all 40)")
    parser.add_argument("--metric", default="seqsim", help="a registered metric (seqsim)")
    parser.add_argument("--png", default="layer_sweep.png", help="the plot (layer_sweep.png)")
    parser.add_argument("--store", help="keep the embeddings here (default: a temporary folder)")
    args = parser.parse_args()
    if args.sentences is not None and args.sentences < 1:
        parser.error("--sentences must be at least 1")
    corpus = demo_corpus(args.langs and args.langs.split(","), args.sentences)

    with tempfile.TemporaryDirectory() as temporary:
        store = EmbeddingStore(args.store or temporary)
        # One pass of the encoder gives every layer; what the store holds already is skipped.
        embedder = WhisperEmbedder(MODEL, layers="all")
        embed(store, corpus.audio_items(), embedder)
        layers = embedder.layers  # 0 (input embeddings) to 6 (the final output)
        results = evaluate_grid(corpus, store=store, layers=layers, metrics=[args.metric])

    by_layer = {layer: result for (_, layer), result in results.items()}
    table = metric_comparison({str(layer): r for layer, r in by_layer.items()})
    table.index.name = "layer"
    print(f"\nR@1 (%) of {args.metric} per encoder layer of {MODEL}:\n")
    print(markdown_table(table))
    chance = 100 * next(iter(by_layer.values())).mean("chance")
    plot_layer_ablation(
        layer_ablation(by_layer),
        Path(args.png),
        f"{args.metric}, {MODEL}: mean R@1 per layer",
        chance=chance,
    )
    print(f"\nplot: {args.png}")


if __name__ == "__main__":
    main()
