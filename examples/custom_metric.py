"""Your own metric, registered once and selected by name by the evaluator and the CLI.

``chamfer`` is the arithmetic mean of SeqSim's precision and recall (SeqSim is their harmonic
mean, F1), built on :meth:`seqsim.SeqSim.scores`, so it runs on every backend in bounded
memory. ``@register_metric("chamfer")`` makes it selectable by name: ``get_metric``,
:func:`seqsim.evaluation.evaluate` (``metric="chamfer"``) and ``seqsim evaluate --metric``.

The CLI finds a metric in the registry of its own process: ``--import`` loads the module that
registers it (a dotted module name or a ``.py`` file; this file's ``main()`` does not run then)::

    seqsim --import examples/custom_metric.py evaluate --store STORE --metric seqsim,chamfer ...

Without ``--import``, ``seqsim evaluate --metric chamfer`` stops with ``unknown metric
'chamfer'``.

Run (embeds the bundled demo with the offline whisper-base first)::

    python examples/custom_metric.py
    python examples/custom_metric.py --langs en,fr --sentences 4 --out chamfer-report/
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

import numpy as np

from seqsim import EmbeddingStore, Metric, SeqSim, WhisperEmbedder, register_metric
from seqsim.corpus import demo_corpus
from seqsim.embed_runs import embed
from seqsim.evaluation import evaluate
from seqsim.report import markdown_table

MODEL = "whisper-base-offline"


@register_metric("chamfer")
class ChamferSim(Metric):
    """``(P + R) / 2`` of SeqSim's precision ``P`` and recall ``R``."""

    @property
    def symmetric(self) -> bool:
        return True  # swapping the sequences swaps P and R: the evaluator scores half the pairs

    def matrix(self, queries, candidates) -> np.ndarray:  # lists of (frames, dim) arrays
        seqsim = SeqSim(
            backend=self.backend, device=self.device, working_memory=self.working_memory
        )
        precision, recall, _ = seqsim.scores(queries, candidates)
        return (precision + recall) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", help="languages, comma-separated (default: en,fr,de,es,it)")
    parser.add_argument("--sentences", type=int, help="the first N sentences (default: all 40)")
    parser.add_argument("--layer", type=int, default=-1, help="encoder layer (default: last)")
    parser.add_argument("--out", default="custom-metric-report", help="the CLI's report folder")
    parser.add_argument("--store", help="keep the embeddings here (default: a temporary folder)")
    args = parser.parse_args()
    if args.sentences is not None and args.sentences < 1:
        parser.error("--sentences must be at least 1")
    corpus = demo_corpus(args.langs and args.langs.split(","), args.sentences)

    with tempfile.TemporaryDirectory() as temporary:
        store = EmbeddingStore(args.store or temporary)
        embed(store, corpus.audio_items(), WhisperEmbedder(MODEL, layers="all"))

        # 1. The evaluator, by name (every sentence of the store in these languages).
        langs = corpus.languages
        result = evaluate(store=store, langs=langs, layer=args.layer, metric="chamfer")
        print("\nevaluate(..., metric='chamfer'): R@1 (%)\n")
        print(markdown_table(result.matrix("r@1")))

        # 2. The command line, which imports this file to register "chamfer", next to SeqSim.
        command = ["seqsim", "--import", __file__, "evaluate", "--store", str(store.path)]
        command += ["--metric", "seqsim,chamfer", "--layer", str(args.layer)]
        command += ["--langs", ",".join(langs), "--out", args.out]
        print(f"\n{' '.join(command)}\n")
        # "python -m seqsim" is the seqsim command of this Python, wherever its PATH points
        subprocess.run([sys.executable, "-m", *command], check=True)


if __name__ == "__main__":
    main()
