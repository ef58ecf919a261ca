"""The search index against hostile and damaged files and input (issue 20): every file is
refused naming it and what is wrong, before reading more than the file holds; impossible
options are clamped with a warning and recorded as used; saves of one path serialise, and
clean up after killed saves; an index refuses a store that is not its own."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import random_sequences
from store_workers import SETTINGS, frames_for

from seqsim.search import SearchIndexError, SequenceIndex
from seqsim.search import candidates as candidates_module
from seqsim.search import index as index_module
from seqsim.store import EmbeddingStore

SOURCE = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def corpus():
    return random_sequences(np.random.default_rng(3), 30, 8, min_len=2, max_len=9)


@pytest.fixture
def saved(tmp_path, corpus):
    index = SequenceIndex(candidates=5)
    index.add(corpus)
    return index.save(tmp_path / "a.index")


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, files: dict[str, bytes], deflated: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            kind = zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED
            archive.writestr(name, data, compress_type=kind)
    return path


def npy(array: np.ndarray) -> bytes:
    handle = io.BytesIO()
    np.save(handle, array)
    return handle.getvalue()


def json_npy(value) -> bytes:
    return npy(np.frombuffer(json.dumps(value).encode(), np.uint8))


def npy_header(shape: tuple[int, ...]) -> bytes:
    """A .npy (v1.0) header of float32 ``shape``, without the data."""
    handle = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        handle, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    return handle.getvalue()


# ---------------------------------------------------------------------- defect 1, 2: files


def test_a_zip_bomb_member_is_refused_from_its_declared_size(tmp_path, saved):
    files = members(saved)
    files["frames.npy"] = npy_header((2**21, 8)) + bytes(2**26)  # 64 MiB of zeros, deflated
    bomb = write_zip(tmp_path / "bomb.index", files, deflated=("frames.npy",))
    assert bomb.stat().st_size < 2**20  # the file is small; what it declares is not
    with pytest.raises(SearchIndexError) as refused:
        SequenceIndex.load(bomb)
    message = str(refused.value)
    assert message.startswith(f"{bomb}: its member 'frames.npy' declares ")
    assert f"more than the {bomb.stat().st_size} of the whole file" in message


def test_a_header_shape_beyond_the_member_is_refused_before_it_is_made(tmp_path, saved):
    files = members(saved)
    frames = np.load(io.BytesIO(files["frames.npy"]))
    # 2 PiB of float32 claimed (2**39 x 1024 x 4 bytes), the real frames behind the header
    files["frames.npy"] = npy_header((2**39, 1024)) + frames.tobytes()
    path = write_zip(tmp_path / "forged.index", files)
    with pytest.raises(SearchIndexError, match=rf"^{path}: its member 'frames.npy' has a header "):
        SequenceIndex.load(path)


def edit_settings(change):
    def edit(files):
        record = json.loads(np.load(io.BytesIO(files["settings.npy"])).tobytes())
        change(record)
        files["settings.npy"] = json_npy(record)

    return edit


def drop(name):
    return lambda files: files.pop(name)


def out_of_range_centroid_ids(files):
    indices = np.load(io.BytesIO(files["shortlist_indices.npy"]))
    files["shortlist_indices.npy"] = npy(indices + 10**6)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            edit_settings(lambda r: r["shortlist"].update(bogus=3)),
            r"its shortlist options \{.*'bogus': 3\} do not fit the 'centroids' generator "
            r"\(.*unexpected keyword argument 'bogus'\)",
        ),
        (edit_settings(lambda r: r.pop("metric")), "its settings lack 'metric'"),
        (
            edit_settings(lambda r: r.update(shortlist=["centroids", 64])),
            "its settings' 'shortlist' is a list, where an object belongs",
        ),
        (
            edit_settings(lambda r: r["metric"].update(metric=["seqsim"])),
            "its settings' 'metric' is a list, where a string belongs",
        ),
        (
            edit_settings(lambda r: r["metric"].update(bogus=1)),
            "its metric cannot be built",
        ),
        (edit_settings(lambda r: r.update(candidates=0)), "candidates must be an integer >= 1"),
        (drop("shortlist_indptr.npy"), "its shortlist lacks the array 'indptr'"),
        (out_of_range_centroid_ids, r"its shortlist cannot be restored \(indices must be <"),
        (drop("lengths.npy"), "it lacks the array 'lengths'"),
        (lambda f: f.update({"keys.npy": json_npy(["a"] * 30)}), "its key 'a' names two"),
        (lambda f: f.update({"keys.npy": json_npy({"a": 1})}), "its keys are not a list"),
    ],
)
def test_malformed_index_files_are_named_with_what_is_wrong(tmp_path, saved, damage, expected):
    files = members(saved)
    damage(files)
    path = write_zip(tmp_path / "damaged.index", files)
    with pytest.raises(SearchIndexError, match=rf"^{path}: {expected}"):
        SequenceIndex.load(path)


@pytest.mark.parametrize("generator", ["centroids", "frames", "mean"])
def test_a_shortlist_of_other_sequences_than_the_keys_is_refused(tmp_path, corpus, generator):
    """Keys of 29 sequences beside a shortlist of 30: its ids would name the wrong keys."""
    index = SequenceIndex(generator=generator, candidates=5)
    index.add(corpus)
    files = members(index.save(tmp_path / "a.index"))
    files["keys.npy"] = json_npy([f"k{number}" for number in range(len(corpus) - 1)])
    path = write_zip(tmp_path / "fewer-keys.index", files)
    expected = f"its shortlist holds {len(corpus)} sequences, its keys name {len(corpus) - 1}"
    with pytest.raises(SearchIndexError, match=rf"^{path}: {expected}"):
        SequenceIndex.load(path)


def test_settings_that_are_not_an_object_are_named(tmp_path, saved):
    files = members(saved)
    files["settings.npy"] = json_npy([1, 2])
    path = write_zip(tmp_path / "list.index", files)
    with pytest.raises(SearchIndexError, match=rf"^{path}: its settings are a list, not an obj"):
        SequenceIndex.load(path)


# ---------------------------------------------------------------------- defect 3, 4: input


def test_a_key_is_refused_twice_in_one_add_and_across_adds(corpus):
    index = SequenceIndex()
    with pytest.raises(SearchIndexError, match=r"key 'b' is given twice, for sequences 1 and 2"):
        index.add(corpus[:3], keys=["a", "b", "b"])
    assert len(index) == 0  # nothing was added
    index.add(corpus[:2], keys=["a", "b"])
    with pytest.raises(SearchIndexError, match=r"key 'a' \(sequence 1 of those added\) is "):
        index.add(corpus[2:4], keys=["c", "a"])
    index.add(corpus[2:3])  # numbered after: its default key "2" is new
    assert list(index.keys) == ["a", "b", "2"]


@pytest.mark.parametrize(
    "bad",
    [
        np.full((3, 8), 1e30, np.float32),  # finite in float32, its squared norm is not
        np.full((3, 8), 1e39, np.float64),  # finite in float64, infinite once cast to float32
    ],
)
def test_frames_beyond_float32_are_refused_naming_the_query(corpus, bad):
    assert np.isfinite(bad).all()
    index = SequenceIndex(candidates=5)
    index.add(corpus)
    with pytest.raises(SearchIndexError, match=r"queries\[1\] frame 0 overflows float32"):
        index.search([corpus[0].astype(bad.dtype), bad])
    with pytest.raises(SearchIndexError, match=r"sequences\[0\] frame 0 overflows float32"):
        SequenceIndex().add([bad])


def test_frames_whose_squared_norm_fits_float32_are_searched(corpus):
    big = np.full((3, 8), 1e18, np.float32)  # 8e36 < 3.4e38: fits
    index = SequenceIndex(candidates=5)
    index.add([*corpus, big])
    _, ids = index.search([big], k=1)
    assert ids[0, 0] == len(corpus)


@pytest.mark.parametrize(
    ("generator", "option", "asked"),
    [("centroids", "centroids", 100_000_000), ("frames", "per_frame", 1_000_000)],
)
def test_options_beyond_the_data_are_clamped_with_a_warning_and_recorded(
    tmp_path, corpus, generator, option, asked
):
    frames = sum(len(sequence) for sequence in corpus)  # fewer than 4 per centroid: all used
    index = SequenceIndex(generator=generator, **{option: asked})
    with pytest.warns(UserWarning, match=rf"{option}={asked} asked, but the {frames} frames "):
        index.add(corpus)
    assert index.settings()["shortlist"][option] == frames
    loaded = SequenceIndex.load(index.save(tmp_path / "clamped.index"))
    assert loaded.settings()["shortlist"][option] == frames


def test_a_frames_search_fetches_at_most_the_indexed_frames_a_block_at_a_time(
    tmp_path, corpus, monkeypatch
):
    index = SequenceIndex(generator="frames", candidates=5)
    index.add(corpus)
    path = index.save(tmp_path / "f.index")
    files = members(path)  # a file that asks for a million neighbours per query frame
    edit_settings(lambda r: r["shortlist"].update(per_frame=1_000_000))(files)
    hostile = SequenceIndex.load(write_zip(tmp_path / "hostile.index", files))
    frames = sum(len(sequence) for sequence in corpus)
    queries = random_sequences(np.random.default_rng(4), 3, 8, min_len=5, max_len=9)
    expected = SequenceIndex.load(path).search(queries, k=3)
    fetched = []
    searcher = hostile.generator.index
    original = type(searcher).search

    def recording(self, vectors, k, *args, **kwargs):
        fetched.append((len(vectors), k))
        return original(self, vectors, k, *args, **kwargs)

    monkeypatch.setattr(type(searcher), "search", recording)
    monkeypatch.setattr(candidates_module, "VOTE_BLOCK_ENTRIES", 2 * frames)
    found = hostile.search(queries, k=3)
    assert fetched and all(k == frames and rows * k <= 2 * frames for rows, k in fetched)
    assert len(fetched) > len(queries)  # queries of 5 to 9 frames took several blocks each
    # all the frames fetched: the same lists as the index asking for 32, to float rounding
    np.testing.assert_allclose(found[0], expected[0], atol=1e-6)


# ---------------------------------------------------------------------- defect 4, 5: saving


def test_temporary_names_are_unique_per_save(tmp_path, corpus, monkeypatch):
    owners = []
    write = index_module.write_atomically

    def recording(path, owner, *args, **kwargs):
        owners.append(owner)
        return write(path, owner, *args, **kwargs)

    monkeypatch.setattr(index_module, "write_atomically", recording)
    index = SequenceIndex()
    index.add(corpus)
    index.save(tmp_path / "a.index")
    index.save(tmp_path / "a.index")
    assert len(set(owners)) == 2 and not any(f"{id(index):x}" in owner for owner in owners)
    assert all("." not in owner for owner in owners)  # temporary names are split at "."


SAVE_SLOWLY = """
import sys, time
import numpy as np
from seqsim.search import SequenceIndex
path, count, log, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
index = SequenceIndex(candidates=2)
rng = np.random.default_rng(count)
index.add([rng.standard_normal((4, 8)).astype(np.float32) for _ in range(count)])
savez = np.savez
def slow(handle, **arrays):
    with open(log, "a") as out:
        out.write(f"start {count} {time.time()}\\n")
    handle.write(b"partial")
    handle.flush()
    time.sleep(pause)
    savez(handle, **arrays)
    with open(log, "a") as out:
        out.write(f"end {count} {time.time()}\\n")
np.savez = slow
index.save(path)
"""
"""Save an index of ``count`` sequences to ``path``, pausing ``pause`` s inside the write after
a partial temporary file is on disk; the start and end of the write are logged to ``log``."""


def save_slowly(path: Path, count: int, log: Path, pause: float) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": SOURCE}
    arguments = [str(path), str(count), str(log), str(pause)]
    return subprocess.Popen([sys.executable, "-c", SAVE_SLOWLY, *arguments], env=environment)


def test_a_killed_saves_temporary_file_is_removed_by_the_next_save(tmp_path, corpus):
    path, log = tmp_path / "a.index", tmp_path / "log"
    killed = save_slowly(path, 5, log, pause=600)
    deadline = time.monotonic() + 60
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".seqsim-tmp.")]
    assert len(left) == 1 and left[0].endswith(".a.index")  # kill -9 left it
    other = tmp_path / ".seqsim-tmp.someone-1-00.b.index"  # another file's: not ours to take
    other.write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("kept")
    index = SequenceIndex()
    index.add(corpus)
    index.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a.index", "log", other.name, "notes.txt"]
    )
    assert len(SequenceIndex.load(path)) == len(corpus)


def test_concurrent_saves_of_one_path_serialise_and_the_file_stays_whole(tmp_path):
    path, log = tmp_path / "a.index", tmp_path / "log"
    saves = [save_slowly(path, count, log, pause=1.5) for count in (3, 7)]
    assert [save.wait(timeout=120) for save in saves] == [0, 0]
    events = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _, _ in events] == ["start", "end", "start", "end"]  # one at a time
    last = events[-1][1]
    assert len(SequenceIndex.load(path)) == int(last)  # the last save won, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.index", "log"]


def test_a_link_where_the_lock_goes_is_not_followed(tmp_path, corpus):
    target = tmp_path / "elsewhere"
    (tmp_path / "a.index.lock").symlink_to(target)
    index = SequenceIndex()
    index.add(corpus)
    with pytest.raises(Exception, match=r"a\.index\.lock: cannot lock a\.index to save it: it is"):
        index.save(tmp_path / "a.index")
    assert not target.exists()


# ---------------------------------------------------------------------- defect 5: stores


def write_store(path: Path, sign: float, model: str = "synthetic") -> EmbeddingStore:
    store = EmbeddingStore(path)
    with store.writer({**SETTINGS, "model": model}) as writer:
        for key in [f"k{n}" for n in range(12)]:
            writer.add(key, {layer: sign * frames_for(key, layer) for layer in SETTINGS["layers"]})
    return store


@pytest.mark.parametrize(
    ("sign", "model", "difference"),
    [
        (-1.0, "synthetic", "other frames: its fingerprint differs"),
        (1.0, "another-model", "frames of 'another-model', the index holds frames of 'synth"),
    ],
)
def test_an_index_refuses_a_store_that_is_not_its_own(tmp_path, sign, model, difference):
    own = write_store(tmp_path / "own", 1.0)
    other = write_store(tmp_path / "other", sign, model)
    assert own.keys() == other.keys()  # the same keys: only the identity tells them apart
    path = SequenceIndex.from_store(own, layer=0, progress=False).save(tmp_path / "i.index")
    with pytest.raises(SearchIndexError) as refused:
        SequenceIndex.load(path, store=other.path)
    message = str(refused.value)
    assert message.startswith(f"{path}: {other.path} is not the store this index was built ")
    assert f"({own.path.resolve()}): {difference}" in message
    assert len(SequenceIndex.load(path, store=own.path)) == 12
