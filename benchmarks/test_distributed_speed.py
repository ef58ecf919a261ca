"""Ray against the local path on this machine: embedding the demo corpus (real speech, the real
whisper-base, layer 6) end to end, as ``seqsim embed`` and ``seqsim embed --ray`` run it (model
loads, and for Ray the local cluster's start, included), then scoring the stored frames into
the R@1 matrix. Both stores must hold the same frames and give the same matrix.

``--distributed-sizes 200,1000`` (the documented run) repeats the demo's 200 recordings under
new keys to reach 1,000 utterances; the default runs 200 only. The per-worker rate is read from
the shards the actors wrote (their names carry the time and the writer).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from harness import TABLES, measure

pytest.importorskip("ray", reason="the Ray benchmarks need the optional extra seqsim[ray]")

from seqsim import EmbeddingStore, SeqSim, WhisperEmbedder  # noqa: E402
from seqsim.corpus import demo_corpus  # noqa: E402
from seqsim.distributed import RayCluster, embed_on_ray  # noqa: E402
from seqsim.embed_runs import embed  # noqa: E402
from seqsim.evaluation import evaluate  # noqa: E402
from seqsim.whisper.loading import OFFLINE_BASE  # noqa: E402

LAYER = 6
RESULTS: dict[int, dict[str, float]] = defaultdict(dict)
TABLE = "distributed embedding: local path against Ray on this machine (2 CPUs)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "size" in metafunc.fixturenames:
        sizes = metafunc.config.getoption("distributed_sizes")
        metafunc.parametrize("size", [int(s) for s in sizes.split(",")], scope="module")


def utterances(size: int) -> list[tuple[str, Path]]:
    """The demo's recordings, repeated under new keys (``lang/id~r``) up to ``size``."""
    demo = demo_corpus().audio_items()
    return [
        (f"{key}~{number // len(demo)}", path)
        for number, (key, path) in zip(range(size), demo * (-(-size // len(demo))), strict=False)
    ]


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[tuple[str, int], EmbeddingStore]:
    return {}


def test_local_embedding(benchmark, size, stores, tmp_path_factory):
    items = utterances(size)
    store = EmbeddingStore(tmp_path_factory.mktemp(f"local-{size}"))

    def run() -> None:
        embedder = WhisperEmbedder(OFFLINE_BASE, layers=[LAYER], progress=False)
        embed(store, items, embedder)

    started = time.perf_counter()
    measure(
        benchmark, run, group=f"embed {size}", name="local", items=size, rounds=1, baseline=True
    )
    RESULTS[size]["local"] = time.perf_counter() - started
    stores[("local", size)] = store


def test_ray_embedding(benchmark, size, stores, tmp_path_factory):
    items = utterances(size)
    store = EmbeddingStore(tmp_path_factory.mktemp(f"ray-{size}"))

    def run() -> None:
        with RayCluster(address="local") as cluster:
            embed_on_ray(items, store, model=OFFLINE_BASE, layers=LAYER, cluster=cluster)

    started = time.perf_counter()
    measure(benchmark, run, group=f"embed {size}", name="Ray, 2 actors", items=size, rounds=1)
    RESULTS[size]["ray"] = time.perf_counter() - started
    RESULTS[size]["per_worker"] = per_worker_rate(store)
    stores[("ray", size)] = store
    local_keys, local_frames = stores[("local", size)].load(LAYER)
    keys, frames = store.load(LAYER)
    position = {key: row for row, key in enumerate(keys)}
    assert sorted(keys) == sorted(local_keys)
    for row, key in enumerate(local_keys):
        np.testing.assert_array_equal(frames[position[key]], local_frames[row])
    TABLES[TABLE] = table()


def per_worker_rate(store: EmbeddingStore) -> float:
    """Utterances per second of one actor once running: each actor's utterances after its
    first shard, over the time from its first shard to its last (a shard's name carries its
    time and its writer, ``host-pid-token``; an actor is one pid)."""
    from seqsim.store.shards import read_contents

    by_actor: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for shard in store.shard_dir.glob("*.npz"):
        stamp, actor = _stamp_and_actor(shard.name)
        by_actor[actor].append((stamp, len(read_contents(shard).keys)))
    rates = []
    for shards in by_actor.values():
        shards.sort()
        if len(shards) > 2:
            done = sum(count for _, count in shards[1:])
            rates.append(done / (shards[-1][0] - shards[0][0]))
    return float(np.mean(rates))


def _stamp_and_actor(name: str) -> tuple[float, str]:
    match = re.match(r"(\d{8}T\d{6})(\d{9})-(.+-\d+)-[0-9a-f]{8}-\d{6}\.npz$", name)
    assert match, name
    moment = datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    return moment.timestamp() + int(match[2]) / 1e9, match[3]


@pytest.mark.parametrize("where", ["local", "ray"])
def test_scoring_to_the_r_at_1_matrix(benchmark, size, stores, where):
    if size != 200:
        pytest.skip("scored once, on the 200 demo utterances")
    store = stores[("local", size)]

    def run():
        if where == "local":
            return evaluate(store=store, layer=LAYER, progress=False)
        with RayCluster(address="local") as cluster:
            metric = cluster.metric(SeqSim())
            return evaluate(store=store, layer=LAYER, metric=metric, progress=False)

    result = measure(
        benchmark,
        run,
        group="score demo",
        name=where,
        items=20,
        rounds=1,
        baseline=where == "local",
    )
    RESULTS[size][f"score_{where}"] = fastest(benchmark)
    RESULTS[size][f"r1_{where}"] = result.mean("r@1")
    if where == "ray":
        assert RESULTS[size]["r1_ray"] == RESULTS[size]["r1_local"]
    TABLES[TABLE] = table()


def fastest(benchmark) -> float:
    return float("nan") if benchmark.stats is None else benchmark.stats.stats.min


def table() -> list[str]:
    lines = [
        "| utterances | local s | Ray s | Ray / local | local utt/s | Ray utt/s | "
        "one actor, running, utt/s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, found in sorted(RESULTS.items()):
        if "ray" in found:
            lines.append(
                f"| {size} | {found['local']:.1f} | {found['ray']:.1f} | "
                f"{found['ray'] / found['local']:.2f} | {size / found['local']:.2f} | "
                f"{size / found['ray']:.2f} | {found['per_worker']:.2f} |"
            )
    return lines
