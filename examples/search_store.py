"""Search a store: a SequenceIndex (shortlist, then an exact SeqSim rerank) over embeddings.

Embeds the bundled demo corpus (real speech, offline whisper-base) into a store, indexes the
utterances of every language but the query language, saves and reloads the index, searches
it with each query-language utterance and prints the best hits (``*``: the same sentence, a
translation). Then measures how often the index keeps exhaustive search's top-1
(:func:`seqsim.search.agreement`). docs/searching.md explains the shortlist and its costs; for a
whole store, ``SequenceIndex.from_store(store, layer)`` indexes it without loading it.

Run (the whole demo: 2 to 6 minutes to embed on 2 CPU cores)::

    python examples/search_store.py
    python examples/search_store.py --langs en,fr --sentences 4 --k 2 --store my-store/
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from seqsim import EmbeddingStore, WhisperEmbedder
from seqsim.corpus import Utterance, demo_corpus
from seqsim.embed_runs import embed
from seqsim.search import SequenceIndex, agreement

MODEL = "whisper-base-offline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", help="languages, comma-separated (default: en,fr,de,es,it)")
    parser.add_argument("--sentences", type=int, help="the first N sentences (default: all 40)")
    parser.add_argument("--layer", type=int, default=-1, help="encoder layer (default: last)")
    parser.add_argument("--query-lang", default="en", help="language of the queries (en)")
    parser.add_argument("--k", type=int, default=5, help="hits per query (5)")
    parser.add_argument("--store", help="keep the embeddings here (default: a temporary folder)")
    args = parser.parse_args()
    if args.sentences is not None and args.sentences < 1:
        parser.error("--sentences must be at least 1")
    corpus = demo_corpus(args.langs and args.langs.split(","), args.sentences)

    with tempfile.TemporaryDirectory() as temporary:
        store = EmbeddingStore(args.store or temporary)
        embed(store, corpus.audio_items(), WhisperEmbedder(MODEL, layers="all"))
        keys, frames = store.load(args.layer)  # memory-mapped; a store may hold more
        row = {key: number for number, key in enumerate(keys)}
        query_keys = [u.key for u in corpus.utterances if u.lang == args.query_lang]
        indexed_keys = [u.key for u in corpus.utterances if u.lang != args.query_lang]

        index = SequenceIndex(metric="seqsim")
        index.add(frames.subset(np.array([row[key] for key in indexed_keys])), indexed_keys)
        saved = index.save(Path(temporary) / "demo.index")
        index = SequenceIndex.load(saved)
        queries = frames.subset(np.array([row[key] for key in query_keys]))
        scores, ids = index.search(queries, k=args.k)  # (Q, k) each, best first
        kept = agreement(index, queries)

    print(
        f"\nindex: {len(index)} utterances, a shortlist of up to {index.candidates} per query, "
        f"reranked by SeqSim; queries: {len(query_keys)} in {args.query_lang}\n"
    )
    hits = 0
    for key, query_scores, query_ids in zip(query_keys, scores, ids, strict=True):
        query = Utterance.from_key(key)
        found = [Utterance.from_key(hit) for hit in index.keys[query_ids]]
        hits += found[0].id == query.id
        shown = ", ".join(
            f"{hit.key} {score:.3f}{' *' if hit.id == query.id else ''}"
            for hit, score in zip(found, query_scores, strict=True)
        )
        print(f"{query.key}: {shown}")
    print(
        f"\ntop hit a translation (R@1 among all other languages): "
        f"{100 * hits / len(query_keys):.1f} %"
    )
    print(
        f"top-1 agreement with exhaustive search: {100 * kept.top1:.1f} % ({kept.queries} queries)"
    )


if __name__ == "__main__":
    main()
