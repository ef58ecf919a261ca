"""The same evaluation on a local Ray cluster: embedding by encoder actors, scoring by workers.

Starts a Ray cluster on this machine (or joins one: ``--address head:6379``), embeds the
bundled demo corpus there (``cluster.embedding()``: encoder actors writing one store),
evaluates retrieval with the scores computed by the cluster's workers (``cluster.metric``), then
evaluates again in this process and checks that both R@1 matrices are the same
(docs/distributed.md: the workers score the local block plan, so the results are the local
ones). Needs the ``ray`` extra: ``pip install -e ".[ray]"``.

Run (the whole demo: embedding 200 utterances takes minutes on 2 CPU cores)::

    python examples/ray_cluster.py
    python examples/ray_cluster.py --langs en,fr --sentences 4 --workers 1 --store my-store/
"""

from __future__ import annotations

import argparse
import tempfile

from seqsim import SeqSim
from seqsim.corpus import demo_corpus
from seqsim.distributed import RayCluster
from seqsim.embedding import embed_corpus
from seqsim.evaluation import evaluate
from seqsim.report import markdown_table

MODEL = "whisper-base-offline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", help="languages, comma-separated (default: en,fr,de,es,it)")
    parser.add_argument("--sentences", type=int, help="the first N sentences (default: all 40)")
    parser.add_argument("--layer", type=int, default=-1, help="encoder layer (default: last)")
    parser.add_argument("--address", default="local", help="Ray cluster (default: a new one)")
    parser.add_argument("--workers", type=int, help="encoder actors / scoring workers")
    parser.add_argument("--store", help="keep the embeddings here (default: a temporary folder)")
    args = parser.parse_args()
    if args.sentences is not None and args.sentences < 1:
        parser.error("--sentences must be at least 1")
    corpus = demo_corpus(args.langs and args.langs.split(","), args.sentences)

    with (
        tempfile.TemporaryDirectory() as temporary,
        RayCluster(address=args.address, workers=args.workers) as cluster,
    ):
        store = args.store or temporary  # on a shared filesystem for a cluster of several hosts
        report = embed_corpus(corpus, MODEL, store, "all", runner=cluster.embedding())
        print(f"embedded on Ray: {report.embedded}, already stored {report.skipped}")
        metric = cluster.metric(SeqSim())
        on_ray = evaluate(corpus, store=store, layer=args.layer, metric=metric, progress=False)
        here = evaluate(corpus, store=store, layer=args.layer, progress=False)

    print(f"\nR@1 (%) scored on the Ray cluster, settings {on_ray.settings_hash}:\n")
    print(markdown_table(on_ray.matrix("r@1")))
    same = on_ray.matrix("r@1").equals(here.matrix("r@1"))
    print(
        f"\nmean R@1 {100 * on_ray.mean('r@1'):.1f} %; "
        f"the same as scored in this process: {'yes' if same else 'NO'}"
    )


if __name__ == "__main__":
    main()
