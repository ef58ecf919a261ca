"""Mining at scale: ``seqsim.mine`` through the search index, with exhaustive scoring beside it.

The data are recombined real speech (``search_corpus.py``: spans of the bundled demo's
whisper-base frames, about 100 frames each, d = 512): the targets are the candidate store
(German, Spanish, French, Italian), the sources English. Half of the sources are the English
versions of targets (the gold pairs); the other half are English utterances of recipes no
target has. For each size:

- the index path (both ways, shortlist K = 100, exact SeqSim rerank): seconds, utterances/s,
  pairs mined/s, peak memory above the frames (``RssAnon``), BUCC F1 at the best threshold;
- the exhaustive path on the first ``exhaustive`` sources and targets (scaled down: it scores
  every pair), timed in the same run, and the index path on the same small set: how many of
  the exhaustive pairs the index finds, and how far its margins are from exhaustive ones.

Run ``python -m pytest benchmarks/test_mining_speed.py`` (sizes from ``SEQSIM_MINING_SIZES``,
default ``10000``; exhaustive on ``SEQSIM_MINING_EXHAUSTIVE``, default 400, sources and targets).
The file is named outside pytest's ``test_*`` pattern on purpose: ``pytest benchmarks`` does
not run it (10,000 x 10,000 takes about 20 minutes on 2 cores); name it to run it.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from harness import TABLES, PeakMemory, fastest_seconds, measure
from search_corpus import LAYER, QUERY_LANGUAGE, Recombiner, recombined_corpus

from seqsim import PackedSequences, SeqSim
from seqsim.mining import best_threshold, mine

SIZES = [int(s) for s in os.environ.get("SEQSIM_MINING_SIZES", "10000").split(",")]
EXHAUSTIVE = int(os.environ.get("SEQSIM_MINING_EXHAUSTIVE", "400"))
K = 4

MINING_TABLE = "mining: seqsim.mine, index (K = 100) and exhaustive, k = 4, ratio margin, union"
TABLES[MINING_TABLE] = [
    "| sources x targets | path | seconds | utterances/s | pairs mined | pairs mined/s | "
    "peak memory above frames | best F1 | at margin |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
]
AGREEMENT_TABLE = "mining: the index's pairs against exhaustive ones, on the same data"
TABLES[AGREEMENT_TABLE] = [
    "| sources x targets | exhaustive pairs found by the index | same pairs: largest margin "
    "difference | mean margin difference |",
    "|---|---:|---:|---:|",
]


def mining_data(size: int) -> tuple[PackedSequences, PackedSequences, set[tuple[int, int]]]:
    """``size`` English sources (half of them planted) and ``size`` targets (memory-mapped)."""
    planted = size // 2
    corpus = recombined_corpus(size, queries=planted)
    recombiner = Recombiner(seed=1)
    rng = np.random.default_rng(1)
    unplanted = [
        recombiner.speak(recombiner.recipe(rng), QUERY_LANGUAGE, (2, n))
        for n in range(size - planted)
    ]
    planted_frames = np.asarray(corpus.queries.frames, dtype=np.float16)
    frames = np.concatenate([planted_frames, *(u.astype(np.float16) for u in unplanted)])
    lengths = [*corpus.queries.lengths, *(len(u) for u in unplanted)]
    sources = PackedSequences.from_lengths(frames, lengths)
    _, targets = corpus.store.load(LAYER)
    gold = {(number, int(target)) for number, target in enumerate(corpus.targets)}
    return sources, targets, gold


def first(packed: PackedSequences, count: int) -> PackedSequences:
    return packed.subset(np.arange(min(count, len(packed))))


def timed_mine(benchmark, sources, targets, gold, *, search: str, label: str) -> pd.DataFrame:
    """Mine once, timed and measured, and add a row to the mining table."""
    metric = SeqSim()
    metric.matrix(first(sources, 2), first(targets, 2))  # compile, warm the caches
    with PeakMemory() as memory:
        pairs = measure(
            benchmark,
            lambda: mine(
                sources, targets, metric=metric, k=K, search=search, exhaustive_below=0
            ),  # fmt: skip
            group=f"mining {label}",
            name=f"{search} path",
            items=len(sources) + len(targets),
            baseline=search == "exhaustive",
            rounds=1,
        )
    seconds = fastest_seconds(benchmark)
    if seconds is not None:
        best = best_threshold(pairs, {(s, t) for s, t in gold if t < len(targets)})
        TABLES[MINING_TABLE].append(
            f"| {label} | {search} | {seconds:.1f} | {(len(sources) + len(targets)) / seconds:.1f} "
            f"| {len(pairs):,} | {len(pairs) / seconds:.1f} | {memory.peak_bytes / 2**20:,.0f} MiB "
            f"| {best.f1:.3f} | {best.threshold:.4f} |"
        )
    return pairs


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_mining_exhaustive_scaled_down(benchmark, size):
    sources, targets, gold = mining_data(size)
    small = min(EXHAUSTIVE, size)
    small_gold = {(s, t) for s, t in gold if s < small and t < small}
    few_sources, few_targets = first(sources, small), first(targets, small)
    label = f"{small:,} x {small:,}"
    exhaustive = timed_mine(benchmark, few_sources, few_targets, small_gold,
                            search="exhaustive", label=label)  # fmt: skip
    assert len(exhaustive) > 0


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_mining_index_against_exhaustive_on_the_same_data(benchmark, size):
    sources, targets, gold = mining_data(size)
    small = min(EXHAUSTIVE, size)
    few_sources, few_targets = first(sources, small), first(targets, small)
    small_gold = {(s, t) for s, t in gold if s < small and t < small}
    label = f"{small:,} x {small:,}"
    indexed = timed_mine(benchmark, few_sources, few_targets, small_gold, search="index",
                         label=label)  # fmt: skip
    exhaustive = mine(few_sources, few_targets, k=K, search="exhaustive")
    both = exhaustive.merge(indexed, on=["source", "target"], suffixes=("", "_index"))
    difference = (both["margin_index"] - both["margin"]).abs()
    TABLES[AGREEMENT_TABLE].append(
        f"| {label} | {len(both)} of {len(exhaustive)} | {difference.max():.2e} | "
        f"{difference.mean():.2e} |"
    )
    assert len(both) >= 0.9 * len(exhaustive)


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_mining_through_the_index_at_size(benchmark, size):
    sources, targets, gold = mining_data(size)
    pairs = timed_mine(benchmark, sources, targets, gold, search="index",
                       label=f"{size:,} x {size:,}")  # fmt: skip
    assert len(pairs) > 0
