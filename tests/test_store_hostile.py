"""The store against hostile and damaged files (issue 20, defects 1 and 2).

1. A symbolic link planted where a store keeps a file or folder of its own is refused by name,
   and what it points to, outside the store, stays byte for byte as it was (or is not
   created). One case also runs as an unprivileged user (uid 65534) in a subprocess, since
   the tests run as root here.
2. A damaged layer file, or an ``index.json`` with garbage, is a named error that says how to
   rebuild it from the shards; rebuilding that way gives the frames written.

Frames are :func:`store_workers.frames_for` of their key, so every stored frame is checked
against the test's own computation; checksums are checked against ``zlib.crc32`` of the bytes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import write_manifest
from store_workers import SETTINGS, frames_for
from test_faults import embed, one_line_error, run

from seqsim import EmbeddingStore, WhisperEmbedder, embed_runs
from seqsim.embed_runs import embed_with
from seqsim.store import StoreCorruptError, StoreError, StoreLinkError
from seqsim.store import layers as layers_module

OUTSIDE_BYTES = b"a user's file, outside the store\n"
KEYS = ["a", "b", "c", "d", "e"]


def write(store: EmbeddingStore, keys: list[str], shard_size: int = 2) -> None:
    with store.writer(SETTINGS, shard_size=shard_size) as writer:
        for key in keys:
            writer.add(key, {layer: frames_for(key, layer) for layer in SETTINGS["layers"]})


def produce(store, settings, todo, report) -> None:
    """A producer for ``embed_with``: the frames of :func:`frames_for`."""
    with store.writer(settings) as writer:
        for key, _ in todo:
            writer.add(key, {layer: frames_for(key, layer) for layer in settings["layers"]})
            report.embedded += 1


def assert_holds(store: EmbeddingStore, keys: list[str]) -> None:
    """Every key once, in every layer, with exactly the frames written."""
    for layer in SETTINGS["layers"]:
        stored, packed = store.load(layer)
        assert stored == keys
        for row, key in enumerate(stored):
            np.testing.assert_array_equal(np.asarray(packed[row]), frames_for(key, layer))


def link_message(link: Path) -> str:
    return re.escape(f"{link}: is a symbolic link; seqsim writes only its own files here")


# ---------------------------------------------------------------------- 1. planted links


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the store, holding a user's file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "target").write_bytes(OUTSIDE_BYTES)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links not followed) with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def consolidated_store(path: Path) -> EmbeddingStore:
    store = EmbeddingStore(path)
    write(store, KEYS)
    store.consolidate()
    return store


def shards_only_store(path: Path) -> EmbeddingStore:
    store = EmbeddingStore(path)
    write(store, KEYS)
    return store


def store_with_a_corrupt_shard(path: Path) -> EmbeddingStore:
    store = shards_only_store(path)
    (store.shard_dir / "zz-corrupt.npz").write_bytes(b"PK\x03\x04 not a zip")
    return store


def new_store(path: Path) -> EmbeddingStore:
    path.mkdir()
    return EmbeddingStore(path)


def embed_one_more(store: EmbeddingStore) -> None:
    embed_with(store, produce, [(key, f"{key}.wav") for key in [*KEYS, "f"]], SETTINGS)


def write_one_more(store: EmbeddingStore) -> None:
    write(store, ["f"])


# (the link's place in the store, how the store is made, what is done with it)
FILE_LINKS: dict[str, tuple[str, Callable, Callable]] = {
    "embed.lock": ("embed.lock", consolidated_store, embed_one_more),
    "consolidate.lock by consolidate": (
        "consolidate.lock",
        shards_only_store,
        EmbeddingStore.consolidate,
    ),
    "consolidate.lock by load": (
        "consolidate.lock",
        consolidated_store,
        lambda store: store.load(0),
    ),
    "index.json": ("index.json", shards_only_store, EmbeddingStore.consolidate),
    "layer file written": ("layer_1.npy", shards_only_store, EmbeddingStore.consolidate),
    "failures.jsonl": ("failures.jsonl", consolidated_store, embed_one_more),
    "store.json": ("store.json", new_store, write_one_more),
    "a dead writer's lock": ("writers/gone-7-00000000.lock", consolidated_store, write_one_more),
}


@pytest.mark.parametrize("target_exists", [True, False], ids=["target", "dangling"])
@pytest.mark.parametrize("case", list(FILE_LINKS))
def test_a_link_in_place_of_a_store_file_is_refused_and_its_target_untouched(
    tmp_path, outside, case, target_exists
):
    name, make, operation = FILE_LINKS[case]
    store = make(tmp_path / "store")
    target = outside / ("target" if target_exists else "not-there")
    link = store.path / name
    link.parent.mkdir(exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    with pytest.raises(StoreLinkError, match=f"^{link_message(link)}"):
        operation(store)
    assert snapshot(outside) == {"target": OUTSIDE_BYTES}  # unchanged, nothing created
    assert link.is_symlink()  # left as it was


def test_a_link_in_place_of_the_embed_lock_with_a_real_model(tmp_path, outside, tiny_whisper_dir):
    """As ``seqsim embed`` reached it: embed_runs.embed with a (tiny) Whisper."""
    embedder = WhisperEmbedder(str(tiny_whisper_dir), layers=[1], progress=False)
    audio = [("tone", (np.sin(np.arange(8000) / 5).astype(np.float32), 16_000))]
    store = EmbeddingStore(tmp_path / "store")
    store.path.mkdir()
    (store.path / "embed.lock").symlink_to(outside / "target")
    with pytest.raises(StoreLinkError, match=f"^{link_message(store.path / 'embed.lock')}"):
        embed_runs.embed(store, audio, embedder)
    assert snapshot(outside) == {"target": OUTSIDE_BYTES}
    assert not (store.path / "store.json").exists()  # refused before anything was written


FOLDER_LINKS: dict[str, tuple[str, Callable, Callable]] = {
    "writers": ("writers", consolidated_store, write_one_more),
    "shards, written": ("shards", new_store, write_one_more),
    "shards, read": ("shards", consolidated_store, EmbeddingStore.keys),
    "shards/set-aside": (
        "shards/set-aside",
        store_with_a_corrupt_shard,
        EmbeddingStore.set_aside_corrupt_shards,
    ),
}


@pytest.mark.parametrize("case", list(FOLDER_LINKS))
def test_a_link_in_place_of_a_store_folder_is_refused_and_nothing_written_there(
    tmp_path, outside, case
):
    name, make, operation = FOLDER_LINKS[case]
    store = make(tmp_path / "store")
    link = store.path / name
    if link.is_dir():  # a store made already: its folder's files go to the outside folder
        for path in link.iterdir():
            path.rename(outside / path.name)
        link.rmdir()
    link.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    with pytest.raises(StoreLinkError, match=f"^{link_message(link)}"):
        operation(store)
    assert snapshot(outside) == before


def test_a_link_read_in_place_of_a_layer_file_is_not_followed(tmp_path, outside):
    store = consolidated_store(tmp_path / "store")
    layer_file = store.path / "layer_0.npy"
    copy = outside / "layer_0.npy"
    layer_file.rename(copy)  # the same bytes, outside: still refused, never mapped
    layer_file.symlink_to(copy)
    with pytest.raises(StoreLinkError, match=f"^{link_message(layer_file)}"):
        store.load(0)
    with pytest.raises(StoreLinkError, match=f"^{link_message(layer_file)}"):
        store.load(0, verify=False)


def test_a_link_read_in_place_of_a_shard_is_not_followed(tmp_path, outside):
    store = shards_only_store(tmp_path / "store")
    elsewhere = EmbeddingStore(tmp_path / "elsewhere")
    write(elsewhere, ["stranger"])
    (foreign,) = elsewhere.shard_dir.glob("*.npz")
    link = store.shard_dir / "zz-planted.npz"
    link.symlink_to(foreign)
    before = foreign.read_bytes()
    for operation in (EmbeddingStore.keys, EmbeddingStore.consolidate, embed_one_more):
        with pytest.raises(StoreLinkError, match=f"^{link_message(link)}"):
            operation(store)
    assert foreign.read_bytes() == before and link.is_symlink()


NOBODY = 65534
UNPRIVILEGED_CASE = """
import json, os, sys
from pathlib import Path
from store_workers import SETTINGS, frames_for
from seqsim.embed_runs import embed_with
from seqsim.store import EmbeddingStore, StoreLinkError

# The interpreter and its libraries are under root's home here: everything is imported
# first, then the process becomes uid 65534 for good, before it touches the store.
os.setgroups([])
os.setgid(int(sys.argv[2]))
os.setuid(int(sys.argv[2]))
folder = Path(sys.argv[1])
store = EmbeddingStore(folder / "store")
with store.writer(SETTINGS) as writer:
    writer.add("a", {layer: frames_for("a", layer) for layer in SETTINGS["layers"]})
(store.path / "embed.lock").symlink_to(folder / "target")
(store.path / "consolidate.lock").symlink_to(folder / "not-there")
def produce(store, settings, todo, report):
    pass
errors = []
for operation in (
    lambda: embed_with(store, produce, [("b", "b.wav")], SETTINGS),
    store.consolidate,
):
    try:
        operation()
        errors.append(None)
    except StoreLinkError as error:
        errors.append(str(error))
print(json.dumps({"uid": os.getuid(), "errors": errors}))
"""


@pytest.fixture
def unprivileged_folder() -> Iterator[Path]:
    """A folder that uid 65534 owns (outside pytest's root-only temporary folders)."""
    folder = Path(tempfile.mkdtemp(prefix="seqsim-nobody-"))
    os.chown(folder, NOBODY, NOBODY)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(os.getuid() != 0, reason="becoming another user needs root")
def test_links_are_refused_for_an_unprivileged_user_too(unprivileged_folder):
    """The store is written and attacked by uid 65534 in a folder it owns (no sticky bit, so
    the kernel's protected_symlinks does not apply): the link's target is that user's own
    writable file, and it is still left alone; the dangling link's target is not created."""
    target = unprivileged_folder / "target"
    target.write_bytes(OUTSIDE_BYTES)
    os.chown(target, NOBODY, NOBODY)
    tests = str(Path(__file__).parent)
    environment = {
        **os.environ,
        "HOME": str(unprivileged_folder),
        "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [sys.executable, "-c", UNPRIVILEGED_CASE, str(unprivileged_folder), str(NOBODY)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    store = unprivileged_folder / "store"
    assert outcome["uid"] == NOBODY
    assert outcome["errors"] == [
        f"{store / name}: is a symbolic link; seqsim writes only its own files here and "
        "follows no link in a store; remove the link (what it points to is left alone)"
        for name in ("embed.lock", "consolidate.lock")
    ]
    assert (store / "store.json").stat().st_uid == NOBODY  # the store was that user's
    assert target.read_bytes() == OUTSIDE_BYTES
    assert not (unprivileged_folder / "not-there").exists()


# ---------------------------------------------------------------------- 2. damaged files


def flip_byte(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_every_layer_file_s_crc32_is_recorded_in_the_index(tmp_path):
    store = consolidated_store(tmp_path / "store")
    index = json.loads((store.path / "index.json").read_text())
    assert index["crc32"] == {
        str(layer): zlib.crc32((store.path / f"layer_{layer}.npy").read_bytes())
        for layer in SETTINGS["layers"]
    }


def test_a_damaged_layer_file_is_named_then_rebuilt_from_its_shards(tmp_path):
    store = consolidated_store(tmp_path / "store")
    layer_file = store.path / "layer_1.npy"
    original = layer_file.read_bytes()
    flip_byte(layer_file, len(original) - 7)  # one bit of one frame: the header still reads
    damaged = zlib.crc32(layer_file.read_bytes())
    expected = (
        f"{layer_file}: damaged (checksum {damaged:#010x} != recorded "
        f"{zlib.crc32(original):#010x}); remove it and load again: the next consolidation "
        f"writes it again from the 3 shard(s) in {store.shard_dir}"
    )
    with pytest.raises(StoreCorruptError, match=f"^{re.escape(expected)}$"):
        store.load(1)
    keys, frames = store.load(0)  # the other layer is whole
    assert keys == KEYS
    layer_file.unlink()  # as the message says
    assert_holds(store, KEYS)
    assert layer_file.read_bytes() == original


def test_a_damaged_layer_file_stops_an_evaluation_with_one_line(tmp_path, tiny_whisper_dir):
    """The reported case: ``seqsim evaluate --store`` on a layer file with one byte changed."""
    manifest = write_manifest(tmp_path)
    store = tmp_path / "store"
    assert embed(manifest, store, tiny_whisper_dir).exit_code == 0
    layer_file = store / "layer_1.npy"
    flip_byte(layer_file, layer_file.stat().st_size // 2)
    result = run("evaluate", "--store", store, "--layer", "1", "--out", tmp_path / "r")
    one_line_error(result, f"{layer_file}: damaged (checksum 0x", "remove it and load again")
    layer_file.unlink()
    result = run("evaluate", "--store", store, "--layer", "1", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output


def test_a_layer_file_is_checksummed_once_per_process(tmp_path, monkeypatch):
    store = consolidated_store(tmp_path / "store")
    reads = []
    original = layers_module.file_crc32
    monkeypatch.setattr(layers_module, "file_crc32", lambda h: reads.append(1) or original(h))
    store.load(0, verify=False)
    assert reads == []
    for _ in range(3):
        store.load(0)
    assert reads == [1]
    (store.path / "index.json").unlink()
    store.load(0)  # consolidated again: a new file, checked again
    assert reads == [1, 1]


def rewrite_header(layer_file: Path, shape: tuple[int, int]) -> None:
    """Give ``layer_file`` a header that claims ``shape`` (same header length)."""
    data = layer_file.read_bytes()
    with open(layer_file, "rb") as handle:
        np.lib.format.read_magic(handle)
        _, _, dtype = np.lib.format.read_array_header_2_0(handle)
        offset = handle.tell()
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
    with open(layer_file, "r+b") as handle:
        np.lib.format.write_array_header_2_0(handle, {**header, "shape": shape})
        assert handle.tell() == offset
    assert len(layer_file.read_bytes()) == len(data)


def frames_of(keys: list[str], layer: int) -> int:
    return sum(len(frames_for(key, layer)) for key in keys)


@pytest.mark.parametrize("verify", [True, False])
def test_a_layer_header_that_claims_more_frames_than_the_index_is_named(tmp_path, verify):
    store = consolidated_store(tmp_path / "store")
    layer_file = store.path / "layer_0.npy"
    frames = frames_of(KEYS, 0)
    rewrite_header(layer_file, (frames + 1000, 8))
    expected = (
        f"{layer_file}: damaged (its header claims shape ({frames + 1000}, 8) of float32, "
        f"but index.json holds {frames} frames of float32); remove it and load again"
    )
    with pytest.raises(StoreCorruptError, match=f"^{re.escape(expected)}"):
        store.load(0, verify=verify)


@pytest.mark.parametrize("verify", [True, False])
def test_a_truncated_layer_file_is_named(tmp_path, verify):
    store = consolidated_store(tmp_path / "store")
    layer_file = store.path / "layer_0.npy"
    size = layer_file.stat().st_size
    with open(layer_file, "r+b") as handle:
        handle.truncate(size - 32)
    expected = f"{layer_file}: damaged ({size - 32} bytes, but its header claims {size})"
    with pytest.raises(StoreCorruptError, match=f"^{re.escape(expected)}"):
        store.load(0, verify=verify)


@pytest.mark.parametrize(
    ("contents", "problem"),
    [
        (b"\x00\xff garbage", "not JSON: "),
        (b'{"keys": ["a"], "lengths": [3]', "not JSON: "),
        (b"[1, 2, 3]", "not a JSON object but list"),
        (b'{"keys": "abcde", "lengths": [], "shards": []}', "its keys are not a list of strings"),
        (b'{"keys": ["a"], "lengths": [3], "shards": 7}', "its shards are not a list of strings"),
        (b'{"keys": ["a", "a"], "lengths": [3, 3], "shards": []}', "its keys are not unique"),
        (b'{"keys": ["a"], "lengths": [-3], "shards": []}', "its lengths are not a list of"),
        (b'{"keys": ["a"], "lengths": [true], "shards": []}', "its lengths are not a list of"),
        (b'{"keys": ["a", "b"], "lengths": [3], "shards": []}', "it gives 1 length(s) for 2"),
        (
            b'{"keys": ["a"], "lengths": [3], "shards": [], "crc32": {"0": "x"}}',
            "its crc32 is not a CRC-32 per layer",
        ),
        (
            b'{"keys": ["a"], "lengths": [3], "shards": [], "crc32": {"0": 4294967296}}',
            "its crc32 is not a CRC-32 per layer",
        ),
    ],
)
def test_an_index_with_garbage_is_named_then_rebuilt(tmp_path, contents, problem):
    store = consolidated_store(tmp_path / "store")
    index = store.path / "index.json"
    index.write_bytes(contents)
    prefix = f"{index}: damaged ({problem}"
    for operation in (lambda: store.load(0), store.consolidate):
        with pytest.raises(StoreCorruptError, match=f"^{re.escape(prefix)}") as caught:
            operation()
        assert str(caught.value).endswith(
            f"remove it and load again: the next consolidation writes it again from the "
            f"3 shard(s) in {store.shard_dir}"
        )
    index.unlink()
    assert_holds(store, KEYS)


def test_a_damaged_index_of_a_store_without_shards_says_so(tmp_path):
    store = consolidated_store(tmp_path / "store")
    for shard in store.shard_dir.glob("*.npz"):
        shard.unlink()
    (store.path / "index.json").write_text("{")
    with pytest.raises(StoreCorruptError, match="holds no shards to rebuild it from: embed"):
        store.load(0)


def test_an_index_without_checksums_is_rewritten_with_them(tmp_path):
    """An index written before layer files had checksums is consolidated again on loading."""
    store = consolidated_store(tmp_path / "store")
    index_file = store.path / "index.json"
    index = json.loads(index_file.read_text())
    del index["crc32"]
    index_file.write_text(json.dumps(index))
    assert_holds(store, KEYS)
    rewritten = json.loads(index_file.read_text())
    assert rewritten["crc32"]["0"] == zlib.crc32((store.path / "layer_0.npy").read_bytes())


def test_a_fifo_in_place_of_a_shard_is_refused_without_blocking(tmp_path):
    store = shards_only_store(tmp_path / "store")
    fifo = store.shard_dir / "zz-fifo.npz"
    os.mkfifo(fifo)

    def blocked(signum, frame):
        raise TimeoutError("opening the FIFO blocked")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(20)
    try:
        with pytest.raises(StoreError, match=f"^{re.escape(str(fifo))}: is not a regular file"):
            store.keys()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
