"""A large search corpus with the frame statistics of real speech, built reproducibly from the
bundled demo's whisper-base frames (final layer), and its exhaustive reference.

Every candidate utterance is 2 or 3 spans (18-38 % each) of German, Spanish, French or Italian
demo utterances, with Gaussian noise of 5 % of the frames' RMS, so no frame repeats exactly;
candidates have about 100 frames (d = 512). A query is an English utterance spoken from the
same spans as its planted candidate (its translation). Planted candidates are among the first
``PLANTED_WITHIN`` candidates, so every prefix of the corpus that long or longer holds them all.

Everything is cached under ``$SEQSIM_BENCHMARK_CACHE`` (default ``~/.cache/seqsim-benchmarks``):
the demo's frames (embedded once with the offline whisper-base, about 3 minutes), the
candidates as an :class:`~seqsim.EmbeddingStore` (float16, memory-mapped: 10 GB for 100,000),
and the exhaustive SeqSim scores of the queries against every candidate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqsim import EmbeddingStore, PackedSequences
from seqsim.corpus import Utterance, demo_corpus
from seqsim.evaluation import embed_corpus
from seqsim.metrics.base import Metric
from seqsim.progress import progress_bar
from seqsim.whisper.loading import OFFLINE_BASE

LAYER = 6
"""whisper-base's final encoder layer."""
QUERY_LANGUAGE = "en"
CANDIDATE_LANGUAGES = ("de", "es", "fr", "it")
SPANS = (2, 3)
SPAN_WIDTH = (0.18, 0.38)
NOISE = 0.05
PLANTED_WITHIN = 10_000
RECIPE_VERSION = 1
WRITE_BLOCK = 4096


def cache_folder() -> Path:
    default = Path("~/.cache/seqsim-benchmarks").expanduser()
    return Path(os.environ.get("SEQSIM_BENCHMARK_CACHE", default))


def demo_frames() -> dict[tuple[str, str], np.ndarray]:
    """The demo's whisper-base final-layer frames, float32, by (sentence, language)."""
    store = EmbeddingStore(cache_folder() / "demo-whisper-base")
    corpus = demo_corpus()
    if store.settings is None or not {u.key for u in corpus.utterances} <= set(store.keys()):
        embed_corpus(corpus, OFFLINE_BASE, store, layers=[LAYER], progress=True)
    keys, packed = store.load(LAYER)
    frames = np.asarray(packed.frames, dtype=np.float32)
    by_utterance = {}
    for number, key in enumerate(keys):
        utterance = Utterance.from_key(key)
        rows = slice(packed.offsets[number], packed.offsets[number + 1])
        by_utterance[utterance.id, utterance.lang] = frames[rows]
    return by_utterance


Span = tuple[str, float, float]
"""A sentence and the fraction of its utterance where the span starts and ends."""


@dataclass(frozen=True)
class RecombinedCorpus:
    """Candidates (in a store), queries and the planted candidate of each query."""

    store: EmbeddingStore
    keys: list[str]
    queries: PackedSequences
    targets: np.ndarray
    folder: Path

    def exhaustive_scores(self, metric: Metric, size: int) -> np.ndarray:
        """Exhaustive ``metric`` scores (Q, size) of the queries against the first ``size``
        candidates, computed once for the whole corpus and cached."""
        path = self.folder / f"exhaustive-{metric.settings()['metric']}-{len(self.targets)}.npy"
        if not path.exists():
            _, frames = self.store.load(LAYER)
            scores = metric.matrix(self.queries, frames)
            np.save(path.with_suffix(".tmp.npy"), scores)
            path.with_suffix(".tmp.npy").replace(path)
        return np.load(path, mmap_mode="r")[:, :size]


class Recombiner:
    """Draws recipes (lists of spans) and speaks them in a language from the demo frames."""

    def __init__(self, seed: int) -> None:
        self.frames = demo_frames()
        self.sentences = sorted({sentence for sentence, _ in self.frames})
        everything = np.concatenate(list(self.frames.values()))
        self.rms = float(np.sqrt(np.mean(everything.astype(np.float64) ** 2)))
        self.seed = seed

    def recipe(self, rng: np.random.Generator) -> list[Span]:
        spans = []
        for _ in range(rng.integers(SPANS[0], SPANS[1] + 1)):
            sentence = self.sentences[rng.integers(len(self.sentences))]
            width = rng.uniform(*SPAN_WIDTH)
            start = rng.uniform(0, 1 - width)
            spans.append((sentence, start, start + width))
        return spans

    def speak(self, recipe: list[Span], lang: str, noise_seed: tuple[int, ...]) -> np.ndarray:
        pieces = []
        for sentence, start, stop in recipe:
            frames = self.frames[sentence, lang]
            first = int(start * len(frames))
            pieces.append(frames[first : max(first + 1, int(stop * len(frames)))])
        spoken = np.concatenate(pieces)
        noise = np.random.default_rng((self.seed, *noise_seed)).standard_normal(
            spoken.shape, dtype=np.float32
        )
        return spoken + noise * np.float32(NOISE * self.rms)


def recombined_corpus(size: int, queries: int = 100, seed: int = 0) -> RecombinedCorpus:
    """The cached corpus of ``size`` candidates and ``queries`` planted queries (built on first
    use: about 1 minute and 100 MB of disk per 10,000 candidates)."""
    folder = cache_folder() / f"recombined-v{RECIPE_VERSION}-{size}-seed{seed}"
    recombiner = Recombiner(seed)
    rng = np.random.default_rng(seed)
    recipes = [recombiner.recipe(rng) for _ in range(size)]
    languages = rng.choice(CANDIDATE_LANGUAGES, size)
    keys = [f"{languages[n]}/c{n:06d}" for n in range(size)]
    targets = np.sort(rng.choice(min(size, PLANTED_WITHIN), queries, replace=False))
    store = EmbeddingStore(folder / "store")
    if store.settings is None or len(store.keys()) < size:
        _write_candidates(store, recombiner, recipes, languages, keys)
    if store.load(LAYER)[0] != keys:
        raise RuntimeError(f"{folder}: not the corpus this recipe makes; delete it to rebuild")
    query_frames = [recombiner.speak(recipes[t], QUERY_LANGUAGE, (1, int(t))) for t in targets]
    packed = PackedSequences.from_lengths(
        np.concatenate(query_frames), [len(q) for q in query_frames]
    )
    return RecombinedCorpus(store, keys, packed, targets, folder)


def _write_candidates(
    store: EmbeddingStore,
    recombiner: Recombiner,
    recipes: list[list[Span]],
    languages: np.ndarray,
    keys: list[str],
) -> None:
    settings = {
        "model": OFFLINE_BASE,
        "layers": [LAYER],
        "dtype": "float16",
        "hidden_states": LAYER + 1,
        "recombined": {"recipe": RECIPE_VERSION, "seed": recombiner.seed, "size": len(keys)},
    }
    done = set(store.keys()) if store.settings is not None else set()
    with store.writer(settings, shard_size=WRITE_BLOCK, flush_seconds=600) as writer:
        for number in progress_bar(range(len(keys)), desc="recombining", unit="utterance"):
            if keys[number] not in done:
                frames = recombiner.speak(recipes[number], str(languages[number]), (0, number))
                writer.add(keys[number], {LAYER: frames.astype(np.float16)})
