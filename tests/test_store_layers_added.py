"""A store gains layers (issue 22): an embed run that asks for layers a store lacks adds them.

Frames are :func:`store_workers.frames_for` of their key and layer, so every stored frame is
checked against the test's own computation; "kept as they are" is checked on the bytes of the
layer files and shards (SHA-256, and the layer file's inode: it is not written again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import tone
from store_workers import frames_for

from seqsim import Embedding, EmbeddingStore, WhisperEmbedder
from seqsim.audio import SAMPLE_RATE
from seqsim.embed_runs import EmbedderProducer, embed, embed_with
from seqsim.store import StoreMismatchError
from seqsim.store.shards import read_contents

SIX = {"model": "synthetic", "layers": [6], "dtype": "float32", "hidden_states": 7}
BOTH = {**SIX, "layers": [4, 6]}
KEYS = ["a", "b", "c", "d", "e", "f"]
DIM = 256
"""Frame dimension: two utterances' frames of one layer (at least 4 KiB) outgrow what zipfile
reads of a shard member at once, so a flipped frame byte is found only when the frames are read,
not when a shard's headers are."""


def frames_of(key: str, layer: int) -> np.ndarray:
    """The frames of ``key`` and ``layer`` (:func:`store_workers.frames_for`, d = :data:`DIM`)."""
    return frames_for(key, layer, DIM)


def items(keys: list[str]) -> list[tuple[str, str]]:
    return [(key, f"{key}.wav") for key in keys]


class Producer:
    """A producer of :func:`frames_of` that records what it is asked for (the layers and the
    keys of each call). Keys in ``fail`` are reported as failed audio; once ``stop_after``
    utterances are written, the next one is a KeyboardInterrupt (a killed run)."""

    def __init__(self, stop_after: int | None = None, fail: tuple[str, ...] = ()) -> None:
        self.stop_after, self.fail = stop_after, fail
        self.calls: list[tuple[list[int], list[str]]] = []
        self.written = 0

    def __call__(self, store, settings, todo, report) -> None:
        self.calls.append((list(settings["layers"]), [key for key, _ in todo]))
        with store.writer(settings, shard_size=2) as writer:
            for key, source in todo:
                if self.written == self.stop_after:
                    raise KeyboardInterrupt
                if key in self.fail:
                    report.failures.append({"key": key, "source": source, "reason": "gone"})
                    continue
                writer.add(key, {layer: frames_of(key, layer) for layer in settings["layers"]})
                report.embedded += 1
                self.written += 1


def six_store(path: Path, keys: list[str] = KEYS) -> EmbeddingStore:
    """A consolidated store of layer 6 of ``keys``, two utterances a shard."""
    store = EmbeddingStore(path)
    embed_with(store, Producer(), items(keys), SIX)
    return store


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shard_hashes(store: EmbeddingStore) -> dict[str, str]:
    return {shard.name: sha256(shard) for shard in store.shard_dir.glob("*.npz")}


def layer_file_state(store: EmbeddingStore, layer: int) -> tuple[str, int, int]:
    """The layer file's bytes (SHA-256), inode and modification time: equal only when it was
    not written again."""
    path = store.path / f"layer_{layer}.npy"
    status = path.stat()
    return sha256(path), status.st_ino, status.st_mtime_ns


def assert_frames(store: EmbeddingStore, layer: int, keys: list[str]) -> None:
    """``load(layer)`` gives exactly ``keys``, each with the frames :func:`frames_of` makes."""
    stored, packed = store.load(layer)
    assert stored == keys
    for row, key in enumerate(stored):
        np.testing.assert_array_equal(np.asarray(packed[row]), frames_of(key, layer))


def stored_layers(store: EmbeddingStore) -> list[int]:
    return json.loads((store.path / "store.json").read_text())["layers"]


def test_adding_layer_4_keeps_layer_6_byte_for_byte_and_gives_layer_4_to_every_key(tmp_path):
    store = six_store(tmp_path / "store")
    store.load(6)
    layer_6, shards = layer_file_state(store, 6), shard_hashes(store)
    producer = Producer()
    report = embed_with(store, producer, items(KEYS), BOTH)
    assert producer.calls == [([4], KEYS)]  # only the layer added, only for stored keys
    assert (report.embedded, report.skipped, report.layers_added) == (6, 0, [4])
    assert stored_layers(store) == [4, 6] and store.settings["model"] == "synthetic"
    assert layer_file_state(store, 6) == layer_6  # same bytes, and not even written again
    after = shard_hashes(store)
    assert {name: after[name] for name in shards} == shards  # old shards as they were
    for name in set(after) - set(shards):  # the new shards hold layer 4 only
        assert set(read_contents(store.shard_dir / name).dims) == {4}
    assert_frames(store, 4, KEYS)
    assert_frames(store, 6, KEYS)
    again = Producer()
    assert embed_with(store, again, items(KEYS), BOTH).skipped == 6 and again.calls == []


def test_new_keys_get_every_layer_while_stored_keys_get_the_added_one(tmp_path):
    store = six_store(tmp_path / "store", KEYS[:4])
    layer_6_before = {key: np.array(frames) for key, frames in zip(*store.load(6), strict=True)}
    producer = Producer()
    report = embed_with(store, producer, items(["e", "a", "f", "b", "c", "d"]), BOTH)
    assert producer.calls == [([4, 6], ["e", "f"]), ([4], ["a", "b", "c", "d"])]
    assert (report.embedded, report.skipped, report.layers_added) == (6, 0, [4])
    keys = ["a", "b", "c", "d", "e", "f"]
    assert_frames(store, 4, keys)
    assert_frames(store, 6, keys)
    stored, frames = store.load(6)
    for row, key in enumerate(stored[:4]):
        np.testing.assert_array_equal(np.asarray(frames[row]), layer_6_before[key])


def test_an_interrupted_addition_reads_as_before_and_the_same_run_resumes(tmp_path):
    store = six_store(tmp_path / "store")
    store.load(6)
    layer_6 = layer_file_state(store, 6)
    with pytest.raises(KeyboardInterrupt):
        embed_with(store, Producer(stop_after=3), items(KEYS), BOTH)
    # three keys hold layer 4 now, in shards; the store still reads as a store of layer 6
    assert stored_layers(store) == [6] and store.keys() == KEYS
    assert_frames(store, 6, KEYS)
    assert layer_file_state(store, 6) == layer_6
    with pytest.raises(StoreMismatchError, match=r"holds layers \[6\] of synthetic, not layer 4"):
        store.load(4)
    resumed = Producer()
    report = embed_with(store, resumed, items(KEYS), BOTH)
    assert resumed.calls == [([4], ["d", "e", "f"])]
    assert (report.embedded, report.skipped, report.layers_added) == (3, 3, [4])
    assert stored_layers(store) == [4, 6]
    assert_frames(store, 4, KEYS)
    assert layer_file_state(store, 6) == layer_6


def frame_byte(shard: Path, member: str) -> int:
    """The position in ``shard`` of the last byte of ``member``'s data (a frame's)."""
    info = zipfile.ZipFile(shard).getinfo(member)
    with open(shard, "rb") as handle:
        handle.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", handle.read(4))
    return info.header_offset + 30 + name_length + extra_length + info.compress_size - 1


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_corrupt_shards_are_set_aside_while_layers_are_added(tmp_path):
    store = six_store(tmp_path / "store")
    old_shards = sorted(store.shard_dir.glob("*.npz"))
    with pytest.raises(KeyboardInterrupt):
        embed_with(store, Producer(stop_after=2), items(KEYS), BOTH)
    layer_4_shard = next(p for p in store.shard_dir.glob("*.npz") if p not in old_shards)
    assert read_contents(layer_4_shard).keys == ["a", "b"]
    flip(layer_4_shard, frame_byte(layer_4_shard, "layer_4.npy"))  # found when read whole
    truncated = old_shards[1]  # c and d: found at once
    truncated.write_bytes(truncated.read_bytes()[:200])
    producer = Producer()
    report = embed_with(store, producer, items(KEYS), BOTH)
    set_aside = [Path(path).name for path in report.set_aside]
    assert set_aside == [truncated.name, layer_4_shard.name]
    assert producer.calls == [
        ([4, 6], ["c", "d"]),  # their shard set aside: new to the store, every layer
        ([4], ["e", "f"]),
        ([4], ["a", "b"]),  # their layer-4 shard set aside while consolidating
    ]
    assert report.layers_added == [4] and stored_layers(store) == [4, 6]
    keys = ["a", "b", "e", "f", "c", "d"]
    assert_frames(store, 4, keys)
    assert_frames(store, 6, keys)


def test_a_layer_copy_of_another_length_is_set_aside_and_made_again(tmp_path):
    store = six_store(tmp_path / "store", ["a", "b"])
    with store.writer({**SIX, "layers": [4]}) as writer:  # a's layer 4, one frame too many
        writer.add("a", {4: np.ones((len(frames_of("a", 6)) + 1, DIM))})
    assert_frames(store, 6, ["a", "b"])  # layer 6 reads as before
    producer = Producer()
    report = embed_with(store, producer, items(["a", "b"]), BOTH)
    assert producer.calls == [([4], ["b"]), ([4], ["a"])]
    assert len(report.set_aside) == 1 and report.layers_added == [4]
    assert_frames(store, 4, ["a", "b"])


def test_a_stored_utterance_whose_audio_fails_keeps_the_layer_from_being_added(tmp_path, caplog):
    store = six_store(tmp_path / "store")
    store.load(6)
    layer_6 = layer_file_state(store, 6)
    with caplog.at_level(logging.WARNING, logger="seqsim.embed_runs"):
        report = embed_with(store, Producer(fail=("c",)), items(KEYS), BOTH)
    assert [failure["key"] for failure in report.failures] == ["c"]
    assert report.layers_added == [] and stored_layers(store) == [6]
    assert "layers [4] not added yet: 1 stored utterance(s) lack them" in caplog.text
    assert_frames(store, 6, KEYS)
    assert layer_file_state(store, 6) == layer_6
    with pytest.raises(StoreMismatchError, match="not layer 4"):
        store.load(4)
    producer = Producer()
    assert embed_with(store, producer, items(KEYS), BOTH).layers_added == [4]
    assert producer.calls == [([4], ["c"])]
    assert_frames(store, 4, KEYS)


def test_adding_a_layer_without_the_audio_of_every_stored_utterance_is_refused(tmp_path):
    store = six_store(tmp_path / "store")
    producer = Producer()
    with pytest.raises(
        StoreMismatchError,
        match=r"adding layers \[4\] needs the audio of every stored utterance, but 2 are not "
        r"given \(e.g. \['e', 'f'\]\); give them too, or drop them first",
    ):
        embed_with(store, producer, items(KEYS[:4]), BOTH)
    assert producer.calls == [] and stored_layers(store) == [6]


def test_asking_for_a_subset_of_the_stored_layers_embeds_nothing(tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    embed_with(store, Producer(), items(KEYS), BOTH)
    store.load(4)
    files = {layer: layer_file_state(store, layer) for layer in (4, 6)}
    producer = Producer()
    report = embed_with(store, producer, items(KEYS), SIX)
    assert producer.calls == [] and (report.embedded, report.skipped) == (0, 6)
    assert stored_layers(store) == [4, 6]
    assert {layer: layer_file_state(store, layer) for layer in (4, 6)} == files
    with pytest.raises(
        StoreMismatchError,
        match=r"layers=\[4, 6\], but layers=\[6\] was asked for: the 1 utterance\(s\) to embed "
        r"\(e.g. \['g'\]\) need every stored layer",
    ):
        embed_with(store, producer, items([*KEYS, "g"]), SIX)
    assert producer.calls == [] and store.keys() == KEYS


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"model": "another"}, "model='synthetic', but model='another' was asked for"),
        ({"dtype": "float16"}, "dtype='float32', but dtype='float16' was asked for"),
        (
            {"layers": [4]},
            r"layers=\[6\], but layers=\[4\] was asked for; to add layers, ask for the stored "
            r"ones too: layers=\[4, 6\]",
        ),
    ],
)
def test_another_model_dtype_or_layers_without_the_stored_ones_are_refused(
    tmp_path, other, message
):
    store = six_store(tmp_path / "store")
    before = (store.path / "store.json").read_text(), shard_hashes(store)
    producer = Producer()
    with pytest.raises(StoreMismatchError, match=message):
        embed_with(store, producer, items([*KEYS, "g"]), {**BOTH, **other})
    assert producer.calls == []
    assert ((store.path / "store.json").read_text(), shard_hashes(store)) == before


def test_loading_a_layer_before_it_is_added_names_the_layers_held(tmp_path):
    store = six_store(tmp_path / "store")
    with pytest.raises(StoreMismatchError, match=r"holds layers \[6\] of synthetic, not layer 4"):
        store.load(4)


class StandIn:
    """An embedder of :func:`frames_of` for ``layers`` (``settings()`` and ``embed_iter``)."""

    def __init__(self, layers: list[int]) -> None:
        self.layers = layers

    def settings(self) -> dict:
        return {"model": "synthetic", "layers": self.layers, "hidden_states": 7}

    def embed_iter(self, sources):
        for index, source in enumerate(sources):
            key = Path(source).stem
            frames = {layer: frames_of(key, layer) for layer in self.layers}
            yield index, Embedding(frames, num_samples=16_000)


def test_an_embedder_of_every_layer_is_made_once_and_writes_only_the_layers_asked(tmp_path):
    store = six_store(tmp_path / "store", KEYS[:4])
    made: list[StandIn] = []

    def make() -> StandIn:
        made.append(StandIn([4, 6]))
        return made[-1]

    audio = []
    for key in KEYS:  # files, so that the producer can record what each one is
        soundfile.write(tmp_path / f"{key}.wav", tone(0.2), SAMPLE_RATE)
        audio.append((key, tmp_path / f"{key}.wav"))
    before = set(store.shard_dir.glob("*.npz"))
    producer = EmbedderProducer(make, shard_size=2)
    report = embed_with(store, producer, audio, BOTH)
    assert len(made) == 1 and report.layers_added == [4]
    dims = [set(read_contents(p).dims) for p in sorted(set(store.shard_dir.glob("*.npz")) - before)]
    assert sorted(map(sorted, dims)) == [[4], [4], [4, 6]]  # stored keys: layer 4 alone
    assert_frames(store, 4, KEYS)
    assert_frames(store, 6, KEYS)


def test_a_made_embedder_without_a_planned_layer_is_refused(tmp_path):
    store = six_store(tmp_path / "store")
    producer = EmbedderProducer(lambda: StandIn([6]))
    with pytest.raises(StoreMismatchError, match=r"has layers=\[6\], without the planned \[4\]"):
        embed_with(store, producer, items(KEYS), BOTH)
    assert stored_layers(store) == [6]


@pytest.fixture
def corpus(tmp_path):
    utterances = []
    for k, seconds in enumerate([0.4, 1.3, 0.9, 2.2, 0.6]):
        path = tmp_path / f"u{k}.wav"
        soundfile.write(path, tone(seconds, frequency=200 + 50 * k), SAMPLE_RATE)
        utterances.append((f"u{k}", path))
    return utterances


def test_a_layer_added_to_a_whisper_store_equals_a_fresh_store_of_that_layer(
    tmp_path, corpus, tiny_whisper_dir
):
    def embedder(layers: list[int]) -> WhisperEmbedder:
        return WhisperEmbedder(str(tiny_whisper_dir), layers=layers, batch_size=2, progress=False)

    store = EmbeddingStore(tmp_path / "store")
    embed(store, corpus, embedder([2]))
    layer_2 = layer_file_state(store, 2)
    report = embed(store, corpus, embedder([1, 2]))
    assert (report.embedded, report.layers_added) == (5, [1])
    assert store.settings["layers"] == [1, 2]
    assert layer_file_state(store, 2) == layer_2
    fresh = EmbeddingStore(tmp_path / "fresh")
    embed(fresh, corpus, embedder([1]))
    keys, added = store.load(1)
    fresh_keys, expected = fresh.load(1)
    assert keys == fresh_keys == [key for key, _ in corpus]
    np.testing.assert_array_equal(np.asarray(added.frames), np.asarray(expected.frames))
    np.testing.assert_array_equal(added.lengths, expected.lengths)
