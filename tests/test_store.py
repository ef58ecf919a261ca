import errno
import json
import os
import pickle
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from helpers import tone
from store_workers import SETTINGS, frames_for

from seqsim import EmbeddingStore, SeqSim, WhisperEmbedder
from seqsim.audio import SAMPLE_RATE, SAMPLES_PER_FRAME, AudioError
from seqsim.embed_runs import embed, embed_with
from seqsim.store import CorruptShardError, StoreError, StoreFullError, StoreMismatchError
from seqsim.store import files as files_module
from seqsim.store import store as store_module

WORKERS = str(Path(__file__).with_name("store_workers.py"))


@pytest.fixture(scope="module")
def embedder(tiny_whisper_dir):
    return WhisperEmbedder(str(tiny_whisper_dir), layers=[1, 2], batch_size=2, progress=False)


@pytest.fixture
def corpus(tmp_path):
    utterances = []
    for k, seconds in enumerate([0.4, 1.3, 0.9, 2.2, 0.6, 1.7, 1.0]):
        path = tmp_path / f"u{k}.wav"
        soundfile.write(path, tone(seconds, frequency=200 + 50 * k), SAMPLE_RATE)
        utterances.append((f"u{k}", path))
    return utterances


class InterruptAfter:
    """An embedder stand-in that is 'killed' (KeyboardInterrupt) after ``count`` utterances."""

    def __init__(self, embedder, count):
        self.embedder, self.count, self.seen = embedder, count, 0

    def __getattr__(self, name):
        return getattr(self.embedder, name)

    def embed_iter(self, sources):
        for item in self.embedder.embed_iter(sources):
            if self.seen == self.count:
                raise KeyboardInterrupt
            self.seen += 1
            yield item


def test_round_trip_memory_mapped_and_float16(tmp_path, corpus, embedder):
    store = EmbeddingStore(tmp_path / "store")
    report = embed(store, corpus, embedder, shard_size=3)
    assert (report.embedded, report.skipped, report.failures) == (7, 0, [])
    keys, packed = store.load(2)
    assert keys == [key for key, _ in corpus]
    assert isinstance(packed.frames, np.memmap) and packed.frames.dtype == np.float16
    for key, (_, path) in zip(keys, corpus, strict=True):
        expected = embedder.embed(path).layers[2].numpy().astype(np.float16)
        np.testing.assert_array_equal(np.asarray(packed[keys.index(key)]), expected)
    settings = json.loads((tmp_path / "store" / "store.json").read_text())
    assert settings["model"] == embedder.model_name and settings["layers"] == [1, 2]
    assert settings["dtype"] == "float16" and "seqsim_version" in settings
    matrix = SeqSim().matrix(packed, packed)
    assert np.allclose(np.diag(matrix), 1.0, atol=1e-3)


def test_interrupted_job_resumes_without_recomputing(tmp_path, corpus, embedder):
    store = EmbeddingStore(tmp_path / "store")
    with pytest.raises(KeyboardInterrupt):
        embed(store, corpus, InterruptAfter(embedder, 4), shard_size=3)
    assert (
        len(store.keys()) == 4
    )  # one full shard of 3, plus the partial one flushed on the way out
    # as if a writer had been killed mid-write: its temporary file, no living lock
    leftover = store.shard_dir / ".seqsim-tmp.deadhost-1-00000000.20260101T000000-x.npz"
    leftover.write_bytes(b"\0" * 10)
    counter = InterruptAfter(embedder, 10**9)
    report = embed(EmbeddingStore(tmp_path / "store"), corpus, counter, shard_size=3)
    assert (report.embedded, report.skipped, counter.seen) == (3, 4, 3)
    assert not leftover.exists()
    keys, packed = store.load(1)
    assert sorted(keys) == sorted(key for key, _ in corpus)
    fresh = EmbeddingStore(tmp_path / "fresh")
    embed(fresh, corpus, embedder)
    fresh_keys, fresh_packed = fresh.load(1)
    for key in keys:
        np.testing.assert_array_equal(
            np.asarray(packed[keys.index(key)]), np.asarray(fresh_packed[fresh_keys.index(key)])
        )


def test_failures_are_recorded_and_the_job_goes_on(tmp_path, corpus, embedder):
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    utterances = (
        corpus[:2]
        + [("bad", tmp_path / "broken.wav"), ("gone", tmp_path / "gone.wav")]
        + corpus[2:3]
    )
    store = EmbeddingStore(tmp_path / "store")
    report = embed(store, utterances, embedder)
    assert report.embedded == 3
    assert [f["key"] for f in report.failures] == ["bad", "gone"]
    lines = [
        json.loads(line)
        for line in (tmp_path / "store" / "failures.jsonl").read_text().splitlines()
    ]
    assert "broken.wav: unreadable or corrupt audio" in lines[0]["reason"]
    assert "gone.wav: file not found" in lines[1]["reason"]
    with pytest.raises(AudioError, match="broken.wav"):
        embed(EmbeddingStore(tmp_path / "strict"), utterances, embedder, fail_fast=True)


def test_mismatched_settings_and_layers_are_refused(tmp_path, corpus, embedder, tiny_whisper_dir):
    store = EmbeddingStore(tmp_path / "store")
    embed(store, corpus[:2], embedder)
    other = WhisperEmbedder(str(tiny_whisper_dir), layers=[0], progress=False)
    with pytest.raises(
        StoreMismatchError, match=r"layers=\[1, 2\], but layers=\[0\] was asked for"
    ):
        embed(store, corpus, other)
    with pytest.raises(StoreMismatchError, match=r"holds layers \[1, 2\] .* not layer 0"):
        store.load(0)
    with pytest.raises(ValueError, match="duplicate utterance keys: \\['u0'\\]"):
        embed(store, corpus[:1] * 2, embedder)


def test_float32_storage(tmp_path, corpus, embedder):
    store = EmbeddingStore(tmp_path / "store")
    embed(store, corpus[:2], embedder, dtype="float32")
    keys, packed = store.load(2)
    torch.testing.assert_close(
        torch.from_numpy(np.array(packed[0])), embedder.embed(corpus[0][1]).layers[2]
    )


# ---------------------------------------------------------------------- the writer API


def write(store, keys, **options):
    with store.writer(SETTINGS, **options) as writer:
        for key in keys:
            writer.add(key, {layer: frames_for(key, layer) for layer in SETTINGS["layers"]})


def assert_holds_exactly(store, keys):
    """Every key once, with the frames :func:`frames_for` gives it, in every layer."""
    assert sorted(store.keys()) == sorted(keys)
    for layer in SETTINGS["layers"]:
        stored_keys, packed = store.load(layer)
        assert sorted(stored_keys) == sorted(keys)
        for row, key in enumerate(stored_keys):
            np.testing.assert_array_equal(np.asarray(packed[row]), frames_for(key, layer))


@pytest.mark.parametrize(
    "key",
    ["pt%2FBR/s01", "a/b/c", "trailing-nul\0", " spaced ", "ünï/çødé", "tab\\there", "", "[1]"],
)
def test_keys_round_trip_exactly(tmp_path, key):
    store = EmbeddingStore(tmp_path / "store")
    write(store, [key, "other"])
    assert store.keys() == [key, "other"]
    assert_holds_exactly(store, [key, "other"])


def test_a_key_written_twice_is_read_once_first_shard_wins(tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    write(store, ["a", "b"], shard_size=1)
    with store.writer(SETTINGS) as writer:  # a second writer given "b" again, other frames
        writer.add("b", {layer: frames_for("c", layer) for layer in SETTINGS["layers"]})
        writer.add("d", {layer: frames_for("d", layer) for layer in SETTINGS["layers"]})
    assert len(list(store.shard_dir.glob("*.npz"))) == 3
    assert store.keys() == ["a", "b", "d"]
    assert_holds_exactly(store, ["a", "b", "d"])  # "b" keeps its first frames


def test_concurrent_writer_processes_lose_and_duplicate_nothing(tmp_path):
    """Three processes write one store at once, with overlapping keys, two keys per shard."""
    path = tmp_path / "store"
    ranges = [(0, 30), (20, 50), (45, 60)]
    workers = [
        subprocess.Popen(
            [sys.executable, WORKERS, "write", str(path), str(first), str(last), "0.01"],
            stderr=subprocess.PIPE,
        )
        for first, last in ranges
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read().decode()
    store = EmbeddingStore(path)
    shards = list(store.shard_dir.glob("*.npz"))
    assert len(shards) == 15 + 15 + 8  # unique names: no writer replaced another's shard
    assert_holds_exactly(store, [f"k{n}" for n in range(60)])
    assert not list(path.rglob(".seqsim-tmp.*")) and not list((path / "writers").iterdir())


def test_opening_and_cleaning_touch_only_dead_writers_own_files(tmp_path):
    folder = tmp_path / "home"
    (folder / "shards").mkdir(parents=True)
    foreign = [folder / "notes.tmp", folder / "shards" / "draft.tmp", folder / "sub" / "x.tmp"]
    foreign[2].parent.mkdir()
    for path in foreign:
        path.write_text("mine")
    store = EmbeddingStore(folder)
    with pytest.raises(StoreError, match="is not an embedding store"):
        store.load(0)
    write(store, ["a"])
    with store.writer(SETTINGS) as writer:  # alive while another writer cleans up
        alive = store.shard_dir / f".seqsim-tmp.{writer.owner}.in-progress.npz"
        alive.write_bytes(b"partial")
        dead = store.shard_dir / ".seqsim-tmp.otherhost-99-deadbeef.in-progress.npz"
        dead.write_bytes(b"partial")
        removed = EmbeddingStore(folder).remove_dead_writers_files()
        assert removed == [dead] and alive.exists()
    assert all(path.read_text() == "mine" for path in foreign)


def test_a_truncated_shard_is_named_then_set_aside_and_re_embedded(tmp_path, corpus, embedder):
    store = EmbeddingStore(tmp_path / "store")
    embed(store, corpus, embedder, shard_size=3)
    first = sorted(store.shard_dir.glob("*.npz"))[0]
    first.write_bytes(first.read_bytes()[:-100])  # as a disk copy cut short would leave it
    (tmp_path / "store" / "index.json").unlink()
    with pytest.raises(CorruptShardError, match=f"{first}: corrupt shard .*embed again"):
        store.load(1)
    with pytest.raises(CorruptShardError, match=str(first)):
        store.keys()
    counter = InterruptAfter(embedder, 10**9)
    report = embed(store, corpus, counter, shard_size=3)
    assert report.set_aside == [str(store.shard_dir / "set-aside" / first.name)]
    assert (report.embedded, report.skipped, counter.seen) == (3, 4, 3)
    keys, _ = store.load(1)
    assert sorted(keys) == sorted(key for key, _ in corpus)


def test_damaged_frames_fail_their_checksum_and_are_re_embedded(tmp_path, corpus, embedder):
    store = EmbeddingStore(tmp_path / "store")
    embed(store, corpus, embedder, shard_size=4)
    shard = sorted(store.shard_dir.glob("*.npz"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the frames: the index still reads
    shard.write_bytes(bytes(data))
    (tmp_path / "store" / "index.json").unlink()
    with pytest.raises(CorruptShardError, match=f"{shard}: corrupt shard .*CRC"):
        store.consolidate()
    report = embed(store, corpus, embedder, shard_size=4)
    assert report.set_aside == [str(store.shard_dir / "set-aside" / shard.name)]
    assert report.embedded == 4 and len(store.keys()) == 7


def test_set_aside_corrupt_shards_for_a_store_without_its_audio(tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    write(store, ["a", "b", "c"], shard_size=1)
    shard = sorted(store.shard_dir.glob("*.npz"))[1]
    shard.write_bytes(b"PK\x03\x04 not a zip")
    assert store.set_aside_corrupt_shards() == [store.shard_dir / "set-aside" / shard.name]
    assert_holds_exactly(store, ["a", "c"])


def test_files_follow_the_umask(tmp_path, corpus, embedder):
    previous = os.umask(0o002)
    try:
        store = EmbeddingStore(tmp_path / "store")
        embed(store, corpus[:2] + [("gone", tmp_path / "gone.wav")], embedder)
    finally:
        os.umask(previous)
    files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"store.json", "index.json", "failures.jsonl", "layer_1.npy", "layer_2.npy"} <= names
    assert any(p.suffix == ".npz" for p in files)
    modes = {p.relative_to(tmp_path): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert set(modes.values()) == {"0o664"}, modes


def test_a_full_disk_while_writing_a_shard(tmp_path, monkeypatch):
    store = EmbeddingStore(tmp_path / "store")
    write(store, ["a", "b"], shard_size=2)
    monkeypatch.setattr(files_module, "free_bytes", lambda folder: 1000)
    with pytest.raises(StoreFullError) as caught:
        write(store, ["c", "d"], shard_size=2)
    message = str(caught.value)
    assert "\n" not in message and str(store.shard_dir) in message
    assert re.search(r"no space left on device: writing it needs [\d.]+ KiB, 1000 B free", message)
    assert not list(store.path.rglob(".seqsim-tmp.*"))
    monkeypatch.undo()
    write(store, ["c", "d"])  # room again: the next run carries on
    assert_holds_exactly(store, ["a", "b", "c", "d"])


def test_a_full_disk_reported_by_the_write_itself(tmp_path, monkeypatch):
    """Where the free-space estimate is wrong, ENOSPC from the write gives the same error."""
    store = EmbeddingStore(tmp_path / "store")
    write(store, ["a"])

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", no_space)
    with pytest.raises(StoreFullError, match="no space left on device: writing it needs"):
        write(store, ["b"])
    assert not list(store.path.rglob(".seqsim-tmp.*"))


def test_store_of_an_older_format_is_refused(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "store.json").write_text(json.dumps({"format": 1, "model": "m"}))
    with pytest.raises(StoreMismatchError, match="store of format 1, this seqsim reads format 3"):
        EmbeddingStore(tmp_path / "old").load(0)


def test_a_store_without_encoder_settings_reads_as_whispers_frames_of_20_ms(tmp_path):
    """The store knows no audio: its default seconds per frame must stay Whisper's, the audio
    module's samples per frame at its sample rate (a store made before other encoders)."""
    (tmp_path / "old").mkdir()
    settings = {"format": 3, "model": "m", "layers": [0], "dtype": "float16", "hidden_states": 1}
    (tmp_path / "old" / "store.json").write_text(json.dumps(settings))
    stored = EmbeddingStore(tmp_path / "old").settings
    assert stored["frame_seconds"] == SAMPLES_PER_FRAME / SAMPLE_RATE == 0.02
    assert stored["family"] == "whisper"


def test_flush_bounds_what_a_killed_run_loses(tmp_path, monkeypatch):
    """A writer flushes every ``shard_size`` utterances, and sooner once the oldest buffered one
    is ``flush_seconds`` old (a fake clock, so the test does not depend on the machine's speed)."""
    clock = iter([0.0, 0.0, 5.0, 10.5, 11.0, 12.0, 13.0, 14.0, 15.0])
    monkeypatch.setattr(store_module.time, "monotonic", lambda: next(clock))
    store = EmbeddingStore(tmp_path / "store")
    with store.writer(SETTINGS, shard_size=3, flush_seconds=10) as writer:
        for key in ("a", "b", "c"):  # at 0 s, 5 s, 10.5 s: "a" is 10.5 s old, flush
            writer.add(key, {layer: frames_for(key, layer) for layer in SETTINGS["layers"]})
        assert store.keys() == ["a", "b", "c"]
        for key in ("d", "e", "f", "g"):  # at 11..14 s: three make a full shard
            writer.add(key, {layer: frames_for(key, layer) for layer in SETTINGS["layers"]})
        assert store.keys() == ["a", "b", "c", "d", "e", "f"]
    assert store.keys() == list("abcdefg")  # the rest on closing
    with pytest.raises(
        ValueError, match="flush_seconds must be a non-negative finite number of seconds, got nan"
    ):
        store.writer(SETTINGS, flush_seconds=float("nan")).__enter__()
    with pytest.raises(ValueError, match="shard_size must be an integer >= 1, got 0"):
        store.writer(SETTINGS, shard_size=0).__enter__()


def test_loaded_frames_pickle_as_their_file_and_refuse_a_replaced_one(tmp_path):
    """What Ray ships of a store's frames: the path of the layer file, mapped again where it is
    unpickled (a filesystem every node sees); a consolidation since then is named."""
    store = EmbeddingStore(tmp_path / "store")
    write(store, [f"k{n}" for n in range(30)])
    keys, packed = store.load(1)
    shipped = pickle.dumps(packed)
    assert len(shipped) < packed.frames.nbytes / 2
    again = pickle.loads(shipped)
    assert isinstance(again.frames, np.memmap)
    np.testing.assert_array_equal(np.asarray(again.frames), np.asarray(packed.frames))
    np.testing.assert_array_equal(again.offsets, packed.offsets)
    assert pickle.loads(pickle.dumps(packed.subset(np.arange(3)))).mapped is None  # a copy
    write(store, ["new"])
    store.load(1)  # consolidates: layer_1.npy is a new file now
    with pytest.raises(ValueError, match=r"layer_1.npy has been replaced since its frames"):
        pickle.loads(shipped)


def test_any_producer_writes_an_embed_run_through_the_writer(tmp_path):
    """The store runs the job (what is left to do, failures, consolidation) for any producer
    that writes through ``store.writer``, as a Ray pipeline does."""
    given: list[list[str]] = []

    def producer(store, settings, todo, report):
        given.append([key for key, _ in todo])
        with store.writer(settings) as writer:
            for key, source in todo:
                if source == "bad":
                    report.failures.append({"key": key, "source": source, "reason": "bad"})
                    continue
                writer.add(key, {layer: frames_for(key, layer) for layer in SETTINGS["layers"]})
                report.embedded += 1

    store = EmbeddingStore(tmp_path / "store")
    write(store, ["a", "b"])
    items = [("a", "x"), ("b", "x"), ("c", "x"), ("d", "bad"), ("e", "x")]
    report = embed_with(store, producer, items, SETTINGS)
    assert given == [["c", "d", "e"]]
    assert (report.embedded, report.skipped, [f["key"] for f in report.failures]) == (2, 2, ["d"])
    assert '"d"' in (store.path / "failures.jsonl").read_text()
    assert_holds_exactly(store, ["a", "b", "c", "e"])
    assert (store.path / "layer_0.npy").is_file()  # consolidated
    with pytest.raises(StoreMismatchError, match="layers"):
        embed_with(store, producer, items, {**SETTINGS, "layers": [0]})


def test_utterances_written_on_another_node_but_missing_here_are_named(tmp_path):
    """A store on a local disk of each node: the workers' shards land elsewhere."""
    from seqsim.distributed.embedding import check_written

    store = EmbeddingStore(tmp_path / "store")
    write(store, ["a", "b"])
    check_written(store, {"node-1": ["a"], "node-2": ["b"]})
    with pytest.raises(
        StoreError,
        match=r"2 utterance\(s\) that workers on node-2, node-3 wrote are not in .*store as "
        r"this machine sees it .*: the store must be on a filesystem that every node",
    ):
        check_written(store, {"node-1": ["a"], "node-3": ["c"], "node-2": ["b", "d"]})


def test_a_shard_writer_on_a_folder_without_a_store_is_refused(tmp_path):
    """Not an assert (skipped under ``python -O``): a StoreError naming the folder."""
    from seqsim.store import ShardWriter

    with pytest.raises(StoreError, match=r"is not an embedding store \(no store.json\)"):
        ShardWriter(EmbeddingStore(tmp_path), "me", shard_size=1, flush_seconds=0.0)
    assert not (tmp_path / "store.json").exists()
