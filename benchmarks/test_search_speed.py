"""Search at scale: ``SequenceIndex`` next to exhaustive SeqSim, on frames of real speech.

The corpus (``search_corpus.py``) is 100,000 candidate utterances recombined from the bundled
demo's whisper-base frames (about 100 frames each, d = 512, float16, memory-mapped), with 100
English queries whose translations are planted among the candidates; the smaller sizes index
its prefixes. For every size and shortlist setting:

- the build: time, peak memory above the frames (``RssAnon``), and the index's own memory (the
  memory-mapped frames are not counted);
- exhaustive search, SeqSim against every candidate, on a sample of the queries: the baseline
  of the group, timed in the same run. Its results must match the exhaustive reference used
  for agreement (all queries against the whole corpus, computed once and cached with it);
- the index's search of all 100 queries, for each shortlist length K: queries/s, top-1
  agreement with exhaustive search, and how often exhaustive top-1 is in the index's top 10.

Run ``python -m pytest benchmarks/test_search_speed.py`` for 10,000 candidates (a few
minutes), and ``--search-sizes 10000,30000,100000 --search-plot docs/search_scaling.png`` for
the documented scaling run (about 20 minutes; ``--search-backend`` picks the rerank's
backend). The first run at a size builds its corpus (100,000: 3.5 minutes and 10 GB of disk
under ``$SEQSIM_BENCHMARK_CACHE``) and the exhaustive reference (100,000: about 25 minutes on
2 cores).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest
from harness import TABLES, PeakMemory, fastest_seconds, measure
from search_corpus import LAYER, RecombinedCorpus, recombined_corpus

from seqsim import PackedSequences, SeqSim
from seqsim.ranking import top_k
from seqsim.search import SequenceIndex

QUERIES = 100
SHORTLISTS = (25, 50, 100, 200)
SHORTLIST_SETTINGS = {
    "centroids=1024": {"centroids": 1024},
    "centroids=4096 (default)": {"centroids": 4096},
}
EXHAUSTIVE_SAMPLE_PAIRS = 100_000
"""Exhaustive search times enough queries to score about this many pairs (at least 2)."""
K = 10

SEARCH_TABLE = "search: index against exhaustive SeqSim (100 queries)"
TABLES[SEARCH_TABLE] = [
    "| candidates | shortlist | K | queries/s | x exhaustive | top-1 agreement | "
    "exhaustive top-1 in top 10 | planted R@1 |",
    "|---:|---|---:|---:|---:|---:|---:|---:|",
]
BUILD_TABLE = "search: index builds"
TABLES[BUILD_TABLE] = [
    "| candidates | shortlist | build s | peak memory above frames | index memory (no frames) |",
    "|---:|---|---:|---:|---:|",
]


@dataclass
class Built:
    index: SequenceIndex
    seconds: float
    peak_bytes: int


@dataclass
class Point:
    size: int
    setting: str
    shortlist: int
    queries_per_second: float
    agreement: float


POINTS: list[Point] = []
EXHAUSTIVE_RATE: dict[int, float] = {}
BUILT: dict[tuple[int, str], Built] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "size" in metafunc.fixturenames:
        sizes = [int(s) for s in metafunc.config.getoption("search_sizes").split(",")]
        metafunc.parametrize("size", sizes, ids=[f"{s}" for s in sizes], scope="module")


@pytest.fixture(scope="module")
def corpus(request: pytest.FixtureRequest) -> RecombinedCorpus:
    sizes = [int(s) for s in request.config.getoption("search_sizes").split(",")]
    return recombined_corpus(max(sizes), QUERIES)


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """The metric backend of the rerank and of exhaustive search (``--search-backend``)."""
    return request.config.getoption("search_backend")


@pytest.fixture(scope="module")
def reference(corpus: RecombinedCorpus):
    """Exhaustive SeqSim's top-1 for every query, per corpus size (the cached reference)."""

    def top1(size: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = top_k(np.asarray(corpus.exhaustive_scores(SeqSim(), size)), 1)
        return scores[:, 0], ids[:, 0]

    return top1


def prefix(corpus: RecombinedCorpus, size: int) -> tuple[list[str], PackedSequences]:
    """The first ``size`` candidates, still memory-mapped."""
    keys, frames = corpus.store.load(LAYER)
    return keys[:size], PackedSequences(
        frames.frames[: frames.offsets[size]], frames.offsets[: size + 1]
    )


def build(corpus: RecombinedCorpus, size: int, setting: str, backend: str) -> Built:
    if (size, setting) not in BUILT:
        keys, frames = prefix(corpus, size)
        start = time.perf_counter()
        with PeakMemory() as memory:
            index = SequenceIndex(backend=backend, **SHORTLIST_SETTINGS[setting])
            index.add(frames, keys)
        BUILT[size, setting] = Built(index, time.perf_counter() - start, memory.peak_bytes)
        index_bytes = sum(a.nbytes for a in index.generator.state().values())
        TABLES[BUILD_TABLE].append(
            f"| {size:,} | {setting} | {BUILT[size, setting].seconds:.0f} | "
            f"{memory.peak_bytes / 2**20:,.0f} MiB | {index_bytes / 2**20:,.1f} MiB |"
        )
    return BUILT[size, setting]


@pytest.mark.parametrize("setting", list(SHORTLIST_SETTINGS))
def test_index_build(corpus, backend, size, setting):
    """Timed once, by :func:`build` (the build table)."""
    built = build(corpus, size, setting, backend)
    assert len(built.index) == size


def test_exhaustive_search(benchmark, corpus, backend, reference, size):
    keys, frames = prefix(corpus, size)
    # cheap to build; exhaustive search ignores the shortlist
    index = SequenceIndex(generator="mean", backend=backend)
    index.add(frames, keys)
    sample = np.arange(max(2, min(QUERIES, EXHAUSTIVE_SAMPLE_PAIRS // size)))
    queries = corpus.queries.subset(sample)
    scores, ids = measure(
        benchmark,
        lambda: index.search(queries, k=K, exhaustive=True),
        group=f"search among {size:,}",
        name="exhaustive SeqSim (baseline)",
        items=len(sample),
        baseline=True,
        rounds=1,
    )
    best_scores, best_ids = reference(size)
    np.testing.assert_allclose(scores[:, 0], best_scores[sample], atol=1e-6)
    assert np.mean(ids[:, 0] == best_ids[sample]) >= 0.9  # equal scores may swap near-ties
    seconds = fastest_seconds(benchmark)
    if seconds is not None:
        EXHAUSTIVE_RATE[size] = len(sample) / seconds


@pytest.mark.parametrize("shortlist", SHORTLISTS)
@pytest.mark.parametrize("setting", list(SHORTLIST_SETTINGS))
def test_index_search(benchmark, corpus, backend, reference, size, setting, shortlist):
    index = build(corpus, size, setting, backend).index
    index.candidates = shortlist
    index.search(corpus.queries.subset(np.arange(2)), k=K)  # compile, warm the caches
    _, ids = measure(
        benchmark,
        lambda: index.search(corpus.queries, k=K),
        group=f"search among {size:,}",
        name=f"index, {setting}, K={shortlist}",
        items=QUERIES,
        rounds=1,
    )
    best_scores, best_ids = reference(size)
    agreement = float(np.mean(ids[:, 0] == best_ids))
    in_top = float(np.mean((ids == best_ids[:, None]).any(axis=1)))
    planted = float(np.mean(ids[:, 0] == corpus.targets))
    benchmark.extra_info.update(agreement=agreement, exhaustive_top1_in_top10=in_top)
    seconds = fastest_seconds(benchmark)
    if seconds is None:
        return
    rate = QUERIES / seconds
    POINTS.append(Point(size, setting, shortlist, rate, agreement))
    speedup = f"{rate / EXHAUSTIVE_RATE[size]:.0f}" if size in EXHAUSTIVE_RATE else ""
    TABLES[SEARCH_TABLE].append(
        f"| {size:,} | {setting} | {shortlist} | {rate:.1f} | {speedup} | "
        f"{100 * agreement:.0f} % | {100 * in_top:.0f} % | {100 * planted:.0f} % |"
    )


@pytest.fixture(scope="module", autouse=True)
def scaling_plot(request: pytest.FixtureRequest):
    yield
    path = request.config.getoption("search_plot")
    if path and POINTS:
        plot_scaling(POINTS, path)


def plot_scaling(points: list[Point], path: str) -> None:
    """Queries/s against top-1 agreement, one line per (corpus size, shortlist setting), one
    point per shortlist length K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for size, setting in dict.fromkeys((p.size, p.setting) for p in points):
        line = [p for p in points if (p.size, p.setting) == (size, setting)]
        axes.plot(
            [100 * p.agreement for p in line],
            [p.queries_per_second for p in line],
            marker="o",
            label=f"{size:,} candidates, {setting}",
        )
        for p in line:
            axes.annotate(f"K={p.shortlist}", (100 * p.agreement, p.queries_per_second), fontsize=7)
    axes.set_xlabel("top-1 agreement with exhaustive SeqSim (%)")
    axes.set_ylabel("queries/s (2-core CPU)")
    axes.axhline(20, color="grey", linewidth=0.5)
    axes.axvline(99, color="grey", linewidth=0.5)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
