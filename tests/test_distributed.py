"""seqsim on a Ray cluster: a real local cluster (``ray start --head``, 2 CPUs, token
authentication), started and stopped by this module, joined by the tests and by the CLI in
other processes. Every distributed result is checked against the local run of the same work.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import random_sequences, write_manifest
from store_workers import frames_for

pytest.importorskip(
    "ray", reason="Ray is the optional extra seqsim-speech[ray]; .ci/run installs it"
)
pytest.importorskip("ray.data", reason="Ray Data comes with the optional extra seqsim-speech[ray]")

from threadpoolctl import threadpool_limits  # noqa: E402

from seqsim import (  # noqa: E402
    EmbeddingStore,
    OTSim,
    SeqSim,
    SinkhornConvergenceWarning,
    WhisperEmbedder,
    available_metrics,
    get_metric,
)
from seqsim.cli import main  # noqa: E402
from seqsim.corpus import demo_corpus  # noqa: E402
from seqsim.distributed import ClusterMetric, RayCluster, embed_on_ray  # noqa: E402
from seqsim.embed_runs import embed  # noqa: E402
from seqsim.evaluation import evaluate  # noqa: E402
from seqsim.evaluation_options import SearchOptions
from seqsim.metrics import register_metric  # noqa: E402
from seqsim.search import MeanPooled, SequenceIndex  # noqa: E402
from seqsim.whisper.loading import OFFLINE_BASE  # noqa: E402

TESTS = Path(__file__).parent
CLUSTER_CPUS = 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def address():
    """A local Ray cluster of 2 CPUs for this module (without Ray's token authentication,
    which a driver would have to be configured for before it imports Ray)."""
    port = _free_port()
    temp = Path(f"/tmp/ray-{secrets.token_hex(3)}")  # short: Ray's sockets live under it
    # workers import the functions these tests register from the test modules
    python_path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    environment = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": python_path}
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"]
    command += [f"--port={port}", f"--num-cpus={CLUSTER_CPUS}", "--num-gpus=0"]
    command += ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"]
    head = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the head, its services and workers: one process group
    )
    deadline = time.monotonic() + 120
    while not _accepts(port):
        assert head.poll() is None, head.stdout.read().decode()
        assert time.monotonic() < deadline, "the Ray head did not start"
        time.sleep(0.2)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        subprocess.run(["rm", "-rf", str(temp)], check=False)


def encoder_actor_pids() -> list[int]:
    """Processes of this machine that are seqsim encoder actors (Ray names them so)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if b"EncoderActor" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
    return found


def finished_shards(store: EmbeddingStore) -> list[Path]:
    """The shards in name order, without the temporary files (``.seqsim-tmp.<owner>.<name>``)
    of shards still being written, which end in the same name."""
    if not store.shard_dir.is_dir():
        return []
    return sorted(p for p in store.shard_dir.glob("*.npz") if not p.name.startswith("."))


def writer_pid(shard: Path) -> int:
    """The process that wrote a shard: shards are named <time>-<host>-<pid>-<token>-<n>.npz."""
    return int(re.match(r".+-(\d+)-[0-9a-f]{8}-\d{6}\.npz$", shard.name)[1])


def assert_same_stores(store: EmbeddingStore, reference: EmbeddingStore) -> None:
    """Every key exactly once, and every frame of every layer as in ``reference``."""
    assert sorted(store.keys()) == sorted(reference.keys())
    assert len(store.keys()) == len(set(store.keys()))
    for layer in reference.settings["layers"]:
        keys, frames = store.load(layer)
        reference_keys, reference_frames = reference.load(layer)
        position = {key: row for row, key in enumerate(reference_keys)}
        for row, key in enumerate(keys):
            expected = np.asarray(reference_frames[position[key]])
            np.testing.assert_array_equal(np.asarray(frames[row]), expected, err_msg=key)


# ---------------------------------------------------------------------- embedding


def test_ray_embed_equals_local_embed_and_records_bad_audio(address, tiny_whisper_dir, tmp_path):
    manifest = write_manifest(tmp_path)
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    rows = manifest.read_text() + "9\taa\tbroken.wav\n9\tbb\tgone.wav\n"
    manifest.write_text(rows)
    from seqsim.corpus import read_manifest
    from seqsim.embedding import embed_corpus

    corpus = read_manifest(manifest, check_files=False)
    items = corpus.audio_items()
    local = EmbeddingStore(tmp_path / "local")
    embedder = WhisperEmbedder(str(tiny_whisper_dir), layers=[1, 2], progress=False)
    local_report = embed(local, items, embedder)

    distributed = EmbeddingStore(tmp_path / "distributed")
    with RayCluster(address=address, workers=2) as cluster:
        # scoring workers hold every CPU of the cluster: embedding must stop them first
        cluster.metric(get_metric("avgsim")).matrix(
            random_sequences(np.random.default_rng(0), 4, 8),
            random_sequences(np.random.default_rng(1), 4, 8),
        )
        runner = cluster.embedding()  # the evaluator's and `seqsim embed`'s path
        report = embed_corpus(corpus, str(tiny_whisper_dir), distributed, [1, 2], runner=runner)
    assert (report.embedded, report.skipped) == (local_report.embedded, 0) == (15, 0)
    assert [f["key"] for f in report.failures] == ["aa/9", "bb/9"]
    assert "broken.wav: unreadable or corrupt audio" in report.failures[0]["reason"]
    assert "gone.wav: file not found" in report.failures[1]["reason"]
    failed = (distributed.path / "failures.jsonl").read_text()
    assert '"aa/9"' in failed and '"bb/9"' in failed
    assert_same_stores(distributed, local)
    assert distributed.settings == local.settings
    assert not list(distributed.path.rglob(".seqsim-tmp.*"))
    # the actors record the audio of every utterance as a local run does: its file and bytes
    assert distributed.sources() == local.sources()
    assert all(
        source["path"] == str(Path(path).absolute())
        and source["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
        for key, path in items[:15]
        for source in [distributed.sources()[key]]
    )


def test_an_encoder_of_a_plugin_file_embeds_on_the_cluster_and_its_store_gains_a_layer(
    address, tmp_path
):
    """A family registered by ``--import file.py`` (a module no worker can import by name)
    travels to the actors by value; a second run adds a layer on the cluster. The store ends
    as a local run of every layer makes it."""
    from test_encoder_plugin import PLUGIN

    from seqsim.cli import import_plugin
    from seqsim.corpus import read_manifest
    from seqsim.encoders import load_encoder
    from seqsim.encoders.registry import unregister_encoder

    plugin = tmp_path / "bands_on_ray.py"
    plugin.write_text(textwrap.dedent(PLUGIN))
    import_plugin(str(plugin))
    try:
        items = read_manifest(write_manifest(tmp_path), check_files=False).audio_items()
        local = EmbeddingStore(tmp_path / "local")
        embed(local, items, load_encoder("bands", layers="all", progress=False))
        distributed = EmbeddingStore(tmp_path / "distributed")
        with RayCluster(address=address, workers=2) as cluster:
            first = embed_on_ray(
                items, distributed, model="bands", layers=0, cluster=cluster, progress=False
            )
            assert distributed.settings["layers"] == [0]
            gained = embed_on_ray(
                items, distributed, model="bands", layers=[0, 1], cluster=cluster, progress=False
            )
    finally:
        unregister_encoder("bands")
    assert first.embedded == len(items) and gained.embedded == len(items)
    assert distributed.settings["family"] == "bands" and distributed.settings["layers"] == [0, 1]
    assert_same_stores(distributed, local)


@pytest.fixture(scope="module")
def demo_items():
    """16 utterances of the demo corpus (real speech), and their frames from a local run of
    the real whisper-base (layer 6)."""
    items = [(key, path) for key, path in demo_corpus().audio_items() if key[:2] in ("en", "fr")]
    return sorted(items)[:16]


@pytest.fixture(scope="module")
def demo_reference(demo_items, tmp_path_factory):
    store = EmbeddingStore(tmp_path_factory.mktemp("reference"))
    embed(store, demo_items, WhisperEmbedder(OFFLINE_BASE, layers=[6], progress=False))
    return store


@pytest.mark.slow
def test_a_killed_encoder_actor_is_retried_and_the_store_ends_complete(
    address, demo_items, demo_reference, tmp_path
):
    """``kill -9`` the actor that wrote the first shard, mid-run: Ray restarts it and retries
    its batch; the store ends with every utterance once, every frame as a local run's."""
    store = EmbeddingStore(tmp_path / "store")
    killed: list[tuple[int, int]] = []

    def kill_first_writer() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            shards = finished_shards(store)  # not a temporary file still being written
            if shards:
                pid = writer_pid(shards[0])
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, len(store.keys())))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_first_writer)
    watcher.start()
    with RayCluster(address=address, workers=2) as cluster:
        report = embed_on_ray(
            demo_items, store, model=OFFLINE_BASE, layers=6, cluster=cluster, progress=False
        )
    watcher.join()
    ((pid, stored_when_killed),) = killed
    assert stored_when_killed < len(demo_items)  # killed mid-run
    assert pid not in encoder_actor_pids()
    writers = {writer_pid(shard) for shard in finished_shards(store)}
    assert pid in writers and len(writers) >= 2
    assert report.failures == [] and report.embedded == len(demo_items)
    assert_same_stores(store, demo_reference)


@pytest.mark.slow
def test_a_killed_driver_resumes_without_recomputing_finished_keys(
    address, demo_items, demo_reference, tmp_path
):
    manifest = tmp_path / "demo.tsv"
    rows = [f"{key.split('/')[1]}\t{key.split('/')[0]}\t{path}" for key, path in demo_items]
    manifest.write_text("id\tlang\tpath\n" + "\n".join(rows) + "\n")
    store = EmbeddingStore(tmp_path / "store")
    arguments = ["embed", manifest, "--model", OFFLINE_BASE, "--layers", "6", "--out", store.path]
    arguments += ["--ray", "--address", address, "--workers", "2", "--shard-size", "1"]
    command = [sys.executable, "-c", "from seqsim.cli import main; main()", *map(str, arguments)]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(finished_shards(store)) < 2:
        assert driver.poll() is None, driver.stderr.read().decode()
        assert time.monotonic() < deadline, "no shard was written"
        time.sleep(0.05)
    driver.kill()
    driver.wait()
    while encoder_actor_pids():  # Ray stops the actors of a driver that died
        assert time.monotonic() < deadline, "the actors of the killed driver live on"
        time.sleep(0.2)
    finished = set(store.keys())
    assert 2 <= len(finished) < len(demo_items)
    shards_before = set(finished_shards(store))

    again = CliRunner().invoke(main, [str(a) for a in arguments])
    assert again.exit_code == 0, again.output
    todo = len(demo_items) - len(finished)
    assert f"embedded {todo}, already stored {len(finished)}, failed 0" in again.output
    from seqsim.store.shards import read_contents

    redone = [
        key
        for shard in set(finished_shards(store)) - shards_before
        for key in read_contents(shard).keys
    ]
    assert sorted(redone) == sorted({key for key, _ in demo_items} - finished)  # counted
    assert_same_stores(store, demo_reference)


# ---------------------------------------------------------------------- scoring and search


def negative_l1_of_means(x: np.ndarray, y: np.ndarray) -> float:
    """A user's pairwise metric, in a module the workers import by name."""
    return -float(np.abs(x.mean(axis=0) - y.mean(axis=0)).sum())


@pytest.fixture
def user_metric_registered(restore_metric_registry):
    """``negative_l1_of_means`` registered for the test only."""
    register_metric("test_cluster_l1")(negative_l1_of_means)


@pytest.fixture
def two_thread_worker(address):
    """One worker with this machine's 2 CPUs: its BLAS runs as many threads as the local
    reference below, so scores match to the bit (a BLAS's last bits move with its threads)."""
    with RayCluster(address=address, workers=1, cpus_per_worker=CLUSTER_CPUS) as cluster:
        yield cluster


def local_reference():
    return threadpool_limits(limits=CLUSTER_CPUS, user_api="blas")


@pytest.mark.usefixtures("user_metric_registered")
def test_distributed_matrix_equals_local_for_every_metric(two_thread_worker):
    rng = np.random.default_rng(3)
    queries = random_sequences(rng, 57, 16, 1, 40)
    candidates = random_sequences(rng, 31, 16, 1, 40)
    assert "test_cluster_l1" in available_metrics()
    for name in available_metrics():
        metric = get_metric(name, working_memory=0.01)  # several query and candidate blocks
        with local_reference():
            expected = metric.matrix(queries, candidates)
        found = two_thread_worker.metric(metric).matrix(queries, candidates)
        np.testing.assert_array_equal(found, expected, err_msg=name)


def test_distributed_sinkhorn_counts_unconverged_pairs_here_and_warns_once(two_thread_worker):
    rng = np.random.default_rng(4)
    queries = random_sequences(rng, 9, 8, 2, 9)
    candidates = random_sequences(rng, 7, 8, 2, 9)

    def run(cluster):
        metric = OTSim("sinkhorn", max_iter=40, working_memory=0.002)  # several query blocks
        with local_reference(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if cluster is None:
                scores = metric.matrix(queries, candidates)
            else:
                scores = cluster.metric(metric).matrix(queries, candidates)
        warned = [str(w.message) for w in caught if w.category is SinkhornConvergenceWarning]
        matrix_count = metric.diagnostics()
        index = SequenceIndex(metric, generator="mean", candidates=7)
        index.add(candidates)
        with local_reference(), warnings.catch_warnings():
            warnings.simplefilter("ignore", SinkhornConvergenceWarning)
            (index if cluster is None else cluster.index(index)).search(queries, 3)
        return scores, warned, matrix_count, metric.diagnostics(since=matrix_count)

    local, distributed = run(None), run(two_thread_worker)
    assert len(local[1]) == 1
    assert 0 < local[2]["sinkhorn_unconverged_pairs"] < local[2]["pairs"] == 63
    assert local[3]["pairs"] == 63  # the search reranks every candidate of every query
    np.testing.assert_array_equal(distributed[0], local[0])
    assert distributed[1:] == local[1:]


def parallel_store(path: Path, langs=("aa", "bb", "cc"), sentences=30, dim=16) -> EmbeddingStore:
    """A store of parallel keys lang/id whose frames share a sentence's direction (plus noise
    that differs by language), so that retrieval is well above chance and not perfect."""
    store = EmbeddingStore(path)
    settings = {"model": "synthetic", "layers": [0], "dtype": "float32", "hidden_states": 1}
    with store.writer(settings) as writer:
        for number, lang in enumerate(langs):
            for sentence in range(sentences):
                base = frames_for(f"s{sentence}", 0, dim)
                noise = frames_for(f"{lang}/{sentence}", 0, dim)[: len(base)]
                noise = np.resize(noise, base.shape)
                writer.add(f"{lang}/{sentence}", {0: base + (1.5 + 0.5 * number) * noise})
    return store


def test_distributed_evaluation_equals_local(two_thread_worker, tmp_path):
    store = parallel_store(tmp_path / "store")
    for options in ({}, {"search": SearchOptions("index", candidates=5)}):
        with local_reference():
            local = evaluate(store=store, layer=0, progress=False, **options)
        metric = two_thread_worker.metric(get_metric("seqsim"))
        distributed = evaluate(store=store, layer=0, metric=metric, progress=False, **options)
        pd.testing.assert_frame_equal(distributed.summary, local.summary)
        pd.testing.assert_frame_equal(distributed.ranks, local.ranks)
        assert distributed.settings_hash == local.settings_hash
        assert 1 / 30 < distributed.mean("r@1") < 1


def test_distributed_search_equals_local_and_reads_the_store_on_the_workers(
    two_thread_worker, tmp_path
):
    store = parallel_store(tmp_path / "store", sentences=60)
    index = SequenceIndex.from_store(store, 0, candidates=10, centroids=64, rescore=30)
    keys, frames = store.load(0)
    queries = frames.subset(np.arange(0, len(keys), 3))
    for exhaustive in (False, True):
        with local_reference():
            expected = index.search(queries, 5, exhaustive=exhaustive)
        found = two_thread_worker.index(index).search(queries, 5, exhaustive=exhaustive)
        for got, want in zip(found, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_the_cli_evaluates_and_searches_on_the_cluster_as_it_does_here(address, tmp_path):
    store = parallel_store(tmp_path / "store")
    index = tmp_path / "store.index"
    run = CliRunner().invoke
    built = run(
        main,
        ["index", "build", "--store", str(store.path), "--layer", "0"]
        + ["--out", str(index), "--centroids", "32", "--candidates", "8"],
    )
    assert built.exit_code == 0, built.output
    ray = ["--ray", "--address", address, "--workers", "1", "--cpus-per-worker", "2"]
    outputs = {}
    for name, extra in (("local", []), ("ray", ray)):
        with local_reference():
            evaluated = run(
                main,
                ["evaluate", "--store", str(store.path), "--layer", "0"]
                + ["--out", str(tmp_path / name)]
                + extra,
            )
            searched = run(
                main,
                ["search", str(index), "--store", str(store.path), "--k", "3"]
                + ["--out", str(tmp_path / f"{name}.tsv")]
                + extra,
            )
            mined = run(
                main,
                ["mine", "--sources", str(store.path), "--targets", str(store.path)]
                + ["--layer", "0"]
                + ["--source-langs", "aa", "--target-langs", "bb"]
                + ["--out", str(tmp_path / f"{name}-mined")]
                + extra,
            )
        assert evaluated.exit_code == 0, evaluated.output
        assert searched.exit_code == 0, searched.output
        assert mined.exit_code == 0, mined.output
        outputs[name] = (
            (tmp_path / name / "r_at_1.csv").read_text(),
            (tmp_path / f"{name}.tsv").read_text(),
            (tmp_path / f"{name}-mined" / "pairs.tsv").read_text(),
        )
    assert outputs["ray"] == outputs["local"]
    assert len(outputs["ray"][1].splitlines()) == 1 + 3 * 90
    assert len(outputs["ray"][2].splitlines()) > 1 + 15  # most of the 30 parallel pairs


def test_evaluating_a_manifest_on_the_cluster_embeds_and_scores_as_here(
    address, tiny_whisper_dir, tmp_path
):
    manifest = write_manifest(tmp_path)
    reports = {}
    for name, extra in (("local", []), ("ray", ["--ray", "--address", address])):
        arguments = ["evaluate", "--manifest", manifest, "--model", tiny_whisper_dir]
        arguments += ["--layer", "1", "--metric", "seqsim,dtw", "--out", tmp_path / name]
        with local_reference():
            result = CliRunner().invoke(main, [str(a) for a in arguments + extra])
        assert result.exit_code == 0, result.output
        reports[name] = tmp_path / name
    assert_same_stores(
        EmbeddingStore(reports["ray"] / "store"), EmbeddingStore(reports["local"] / "store")
    )
    tables = ("seqsim_layer1/r_at_1.csv", "dtw_layer1/r_at_1.csv", "metric_comparison_layer1.csv")
    for table in tables:
        assert (reports["ray"] / table).read_text() == (reports["local"] / table).read_text()


# ---------------------------------------------------------------------- seqsim issue 12


class NoCluster(RayCluster):
    """A cluster that fails the test if asked for anything: the checks come first."""

    def worker_count(self) -> int:
        raise AssertionError("the cluster was asked for its workers")

    def map(self, *args, **kwargs):
        raise AssertionError("work was sent out")


def test_a_cluster_search_checks_k_and_the_index_before_sending_work_out():
    from seqsim.search import SearchIndexError

    queries = random_sequences(np.random.default_rng(5), 3, 8, 2, 6)
    with pytest.raises(SearchIndexError, match="the index is empty: add sequences before"):
        NoCluster().index(SequenceIndex()).search(queries, 3)
    index = SequenceIndex(generator="mean")
    index.add(queries)
    for k in (0, 1.5, True):
        with pytest.raises(ValueError, match=f"k must be an integer >= 1, got {k!r}"):
            NoCluster().index(index).search(queries, k)
    with pytest.raises(ValueError, match=r"queries\[0\] has dimension 4"):
        NoCluster().index(index).search([np.ones((2, 4), np.float32)], 2)
    with pytest.raises(ValueError, match=r"candidates\[0\] has dimension 4"):
        NoCluster().metric(SeqSim()).matrix(queries, [np.ones((2, 4), np.float32)])


def test_a_cluster_wraps_metrics_and_embedding_runs_with_checks_before_any_work(tmp_path):
    metric = NoCluster().metric(SeqSim())
    assert isinstance(metric, ClusterMetric) and metric.name == "seqsim"
    assert metric.settings() == SeqSim().settings()
    with pytest.raises(TypeError, match="runs on a cluster already"):
        NoCluster().metric(metric)
    with pytest.raises(TypeError, match="wraps a Metric, not a str"):
        ClusterMetric("seqsim", NoCluster())
    from seqsim.corpus import demo_corpus
    from seqsim.embedding import embed_corpus

    corpus = demo_corpus().parallel(["en", "fr"])
    with pytest.raises(ValueError, match="device='cpu': on a Ray cluster every worker picks"):
        embed_corpus(
            corpus, OFFLINE_BASE, tmp_path / "s", device="cpu", runner=NoCluster().embedding()
        )


def test_matrix_chunked_of_a_cluster_metric_equals_the_local_matrix(two_thread_worker):
    from seqsim import matrix_chunked

    rng = np.random.default_rng(8)
    queries, candidates = random_sequences(rng, 11, 8, 1, 9), random_sequences(rng, 5, 8, 1, 9)
    with local_reference():
        expected = SeqSim().matrix(queries, candidates)
    chunks = matrix_chunked(two_thread_worker.metric(SeqSim()), queries, candidates, chunk_size=4)
    np.testing.assert_array_equal(np.concatenate(list(chunks)), expected)


def test_mining_on_the_cluster_equals_mining_here_both_ways(two_thread_worker):
    from seqsim import mine

    rng = np.random.default_rng(9)
    sources = random_sequences(rng, 14, 8, 2, 9)
    targets = [s + 0.3 * rng.standard_normal(s.shape).astype(np.float32) for s in sources[:6]]
    targets += random_sequences(rng, 5, 8, 2, 9)
    for search in ("exhaustive", "index"):
        with local_reference():
            here = mine(sources, targets, search=search, candidates=4)
        there = mine(
            sources,
            targets,
            metric=two_thread_worker.metric(SeqSim()),
            search=search,
            candidates=4,
        )
        pd.testing.assert_frame_equal(there, here)
        planted = {(n, n) for n in range(6)}  # target n is a noisy copy of source n
        assert len(planted & set(zip(here.source, here.target, strict=True))) >= 4


class UnregisteredMean(MeanPooled):
    """A user's generator that is not registered: a pickle carries its class to the workers
    (which import it from this module, as they import the metric registered above)."""

    name = "unregistered_mean"


def test_a_cluster_search_through_your_own_generator_warns_once_here(two_thread_worker):
    rng = np.random.default_rng(6)
    corpus = random_sequences(rng, 8, 6, 2, 7)
    queries = random_sequences(rng, 6, 6, 2, 7)

    def search(cluster):
        metric = OTSim("sinkhorn", max_iter=1, tol=1e-12, backend="numba")
        index = SequenceIndex(metric, generator=UnregisteredMean(), candidates=8)
        index.add(corpus)
        with local_reference(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            placed = index if cluster is None else cluster.index(index)
            found = placed.search(queries, 9)  # k clamped to 8, warned once
        messages = [str(w.message) for w in caught if w.filename == __file__]  # not Ray's
        return found, messages, metric.diagnostics()

    local, distributed = search(None), search(two_thread_worker)
    for got, want in zip(distributed[0], local[0], strict=True):
        np.testing.assert_array_equal(got, want)
    # 6 queries x 8 candidates, none converged in 1 iteration at tol 1e-12: 48 pairs
    assert distributed[2] == local[2] == {"sinkhorn_unconverged_pairs": 48, "pairs": 48}
    expected = [
        "k=9 is more than the 8 sequences indexed; returning 8",
        "OTSim: Sinkhorn did not converge for 48 of 48 pairs within max_iter=1 (tol=1e-12); "
        "raise max_iter or reg",
    ]
    assert distributed[1] == local[1] == expected  # each once, here
