"""Faults a demanding user meets, through the command line (and the API where the CLI cannot
reach): every one exits with a one-line message naming the item, and nothing is lost.

Manifest faults are in test_manifest_faults.py, metric and embedder options in
test_api_faults.py; the store's mechanisms in test_store.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import LANGS, SENTENCES, write_manifest

from seqsim.cli import main
from seqsim.store import EmbeddingStore, StoreFullError
from seqsim.store import files as files_module
from seqsim.whisper.loading import OFFLINE_BASE

WORKERS = str(Path(__file__).with_name("store_workers.py"))


@pytest.fixture
def manifest(tmp_path):
    return write_manifest(tmp_path)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments, exit_code=1):
    """The command failed with exactly one line of error that contains every fragment."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == exit_code, result.output
    assert not isinstance(result.exception, AssertionError)
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def embed(manifest, store, model, *options):
    return run("embed", manifest, "--model", model, "--layers", "1", "--out", store, *options)


def seqsim_process(*args) -> subprocess.Popen:
    command = [sys.executable, "-c", "from seqsim.cli import main; main()", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@contextlib.contextmanager
def small_disk(folder: Path, size_kib: int):
    """A real filesystem of ``size_kib`` (tmpfs), where the machine lets root mount one."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path, leave_bytes: int) -> Path:
    """Fill ``folder``'s filesystem up to ``leave_bytes`` free."""
    filler = folder / "filler"
    size = max(0, files_module.free_bytes(folder) - leave_bytes)
    with open(filler, "wb") as handle:
        handle.write(b"\0" * size)
    return filler


# ---------------------------------------------------------------------- the store


def test_opening_a_folder_never_deletes_a_users_files(tmp_path, manifest, tiny_whisper_dir):
    home = tmp_path / "home"
    (home / "shards").mkdir(parents=True)
    mine = [home / "draft.tmp", home / "shards" / "notes.tmp", home / "x.npz.tmp"]
    for path in mine:
        path.write_text("mine")
    one_line_error(
        run("evaluate", "--store", home, "--out", tmp_path / "r"), str(home), "no store.json"
    )
    assert embed(manifest, home, tiny_whisper_dir).exit_code == 0
    assert all(path.read_text() == "mine" for path in mine)


def test_a_second_embed_run_is_refused_while_the_first_lives(tmp_path, manifest, tiny_whisper_dir):
    store = tmp_path / "store"
    release = tmp_path / "release"
    first = subprocess.Popen(
        [sys.executable, WORKERS, "embed-when-released", str(store), str(tiny_whisper_dir)]
        + [str(manifest), str(release)]
    )
    lock = store / "embed.lock"
    deadline = time.monotonic() + 120
    while str(first.pid) not in (lock.read_text() if lock.is_file() else ""):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.1)
    second = seqsim_process(
        "embed", manifest, "--model", tiny_whisper_dir, "--layers", "1", "--out", store
    )
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 1, output
    error = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "Traceback" not in output
    assert f"{store} is in use by another embed run (pid {first.pid} on" in error[0]
    release.touch()
    assert first.wait(timeout=300) == 0
    again = embed(manifest, store, tiny_whisper_dir)  # the lock died with its process
    assert "embedded 0, already stored 15" in again.output
    keys = EmbeddingStore(store).keys()
    assert sorted(keys) == sorted(f"{lang}/{k}" for lang in LANGS for k in range(SENTENCES))
    result = run("evaluate", "--store", store, "--layer", "1", "--out", tmp_path / "r")
    assert result.exit_code == 0 and "5 sentences (chance 20.0 %)" in result.output


@pytest.mark.parametrize(("shard_size", "flush_seconds", "lost"), [(4, 1000, 3), (64, 0, 0)])
def test_a_killed_run_loses_at_most_one_flush(
    tmp_path, manifest, tiny_whisper_dir, shard_size, flush_seconds, lost
):
    """``kill -9`` after 7 finished utterances: only those not yet flushed are redone."""
    store = tmp_path / "store"
    killed = subprocess.run(
        [sys.executable, WORKERS, "embed-and-die", str(store), str(tiny_whisper_dir)]
        + [str(manifest), "7", str(shard_size), str(flush_seconds)],
        capture_output=True,
    )
    assert killed.returncode == -9, killed.stderr.decode()
    stored = len(EmbeddingStore(store).keys())
    assert stored == 7 - lost
    result = embed(manifest, store, tiny_whisper_dir)
    assert f"embedded {15 - stored}, already stored {stored}, failed 0" in result.output
    assert not list(store.rglob(".seqsim-tmp.*")) and len(EmbeddingStore(store).keys()) == 15


def test_sigterm_flushes_finished_work_before_exiting(
    tmp_path, manifest, tiny_whisper_dir, monkeypatch
):
    """``kill`` (SIGTERM, as batch schedulers send) after 6 utterances, none flushed yet: the
    CLI writes them on the way out, so a rerun redoes none of them."""
    from seqsim.encoders.whisper import WhisperEmbedder

    embed_iter = WhisperEmbedder.embed_iter

    def terminated_after_six(self, sources):
        for seen, item in enumerate(embed_iter(self, sources)):
            if seen == 6:
                os.kill(os.getpid(), signal.SIGTERM)
            yield item

    monkeypatch.setattr(WhisperEmbedder, "embed_iter", terminated_after_six)

    def unhandled(signum, frame):  # what runs if the CLI installed no handler of its own
        raise RuntimeError("SIGTERM reached the test's fallback handler")

    previous = signal.signal(signal.SIGTERM, unhandled)
    try:
        result = embed(manifest, tmp_path / "s", tiny_whisper_dir, "--flush-seconds", "1000")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 128 + signal.SIGTERM
    assert len(EmbeddingStore(tmp_path / "s").keys()) == 6
    monkeypatch.undo()
    again = embed(manifest, tmp_path / "s", tiny_whisper_dir)
    assert "embedded 9, already stored 6" in again.output


def test_a_full_disk_while_embedding_then_resume(tmp_path, manifest, tiny_whisper_dir):
    with small_disk(tmp_path / "disk", 1024) as disk:
        store = disk / "store"
        filler = fill(disk, leave_bytes=48 * 1024)
        result = embed(manifest, store, tiny_whisper_dir, "--shard-size", "2")
        error = one_line_error(result, str(store), "no space left on device: writing it needs")
        assert "free; free some space and run again" in error
        assert not list(store.rglob(".seqsim-tmp.*"))
        stored = len(EmbeddingStore(store).keys())
        assert 0 < stored < 15
        filler.unlink()
        again = embed(manifest, store, tiny_whisper_dir, "--shard-size", "2")
        assert again.exit_code == 0, again.output
        assert f"embedded {15 - stored}, already stored {stored}" in again.output
        assert len(EmbeddingStore(store).load(1)[0]) == 15


def test_a_full_disk_while_consolidating_then_resume(tmp_path, manifest, tiny_whisper_dir):
    with small_disk(tmp_path / "disk", 1024) as disk:
        store = disk / "store"
        shards_only = EmbeddingStore(store)
        assert embed(manifest, store, tiny_whisper_dir).exit_code == 0
        layer_bytes = (store / "layer_1.npy").stat().st_size
        for name in ("layer_1.npy", "index.json"):
            (store / name).unlink()
        filler = fill(disk, leave_bytes=layer_bytes // 2)
        result = run("evaluate", "--store", store, "--layer", "1", "--out", tmp_path / "r")
        one_line_error(result, str(store / "layer_1.npy"), "no space left on device")
        assert not list(store.rglob(".seqsim-tmp.*"))
        filler.unlink()
        assert len(shards_only.load(1)[0]) == 15


def test_enospc_in_the_middle_of_a_layer_file_leaves_nothing(tmp_path, manifest, tiny_whisper_dir):
    """Where free space looked sufficient, the write's own ENOSPC: an error, no SIGBUS."""
    with small_disk(tmp_path / "disk", 1024) as disk:
        store = EmbeddingStore(disk / "store")
        assert embed(manifest, store.path, tiny_whisper_dir).exit_code == 0
        layer_bytes = (store.path / "layer_1.npy").stat().st_size
        (store.path / "index.json").unlink()
        fill(disk, leave_bytes=layer_bytes // 2)
        original = files_module.check_free_space
        files_module.check_free_space = lambda path, needed: None
        try:
            with pytest.raises(StoreFullError, match="layer_1.npy: no space left on device"):
                store.consolidate()
        finally:
            files_module.check_free_space = original
        assert not list(store.path.rglob(".seqsim-tmp.*"))


def test_a_truncated_shard_is_named_and_recovered(tmp_path, manifest, tiny_whisper_dir):
    store = tmp_path / "store"
    embed(manifest, store, tiny_whisper_dir, "--shard-size", "4")
    shard = sorted((store / "shards").glob("*.npz"))[1]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    (store / "index.json").unlink()
    result = run("evaluate", "--store", store, "--layer", "1", "--out", tmp_path / "r")
    one_line_error(result, f"{shard}: corrupt shard", "run the embed again to set it aside")
    again = embed(manifest, store, tiny_whisper_dir, "--shard-size", "4")
    assert again.exit_code == 0, again.output
    assert "embedded 4, already stored 11" in again.output
    assert f"set aside corrupt shard {store / 'shards' / 'set-aside' / shard.name}" in again.output
    result = run("evaluate", "--store", store, "--layer", "1", "--out", tmp_path / "r")
    assert result.exit_code == 0 and "5 sentences" in result.output


def test_store_files_follow_the_umask(tmp_path, manifest, tiny_whisper_dir):
    previous = os.umask(0o022)
    try:
        store = tmp_path / "store"
        assert embed(manifest, store, tiny_whisper_dir).exit_code == 0
    finally:
        os.umask(previous)
    modes = {
        str(p.relative_to(store)): stat.S_IMODE(p.stat().st_mode)
        for p in store.rglob("*")
        if p.is_file()
    }
    assert {"store.json", "index.json", "failures.jsonl", "layer_1.npy"} <= set(modes)
    assert {"embed.lock", "consolidate.lock"} <= set(modes)  # a group member can lock too
    assert any(name.startswith("shards/") for name in modes)
    assert set(modes.values()) == {0o644}, modes


def test_a_language_code_with_a_slash_round_trips(tmp_path, tiny_whisper_dir):
    manifest = write_manifest(tmp_path, langs=("pt/BR", "en"))
    store = tmp_path / "store"
    assert embed(manifest, store, tiny_whisper_dir).exit_code == 0
    result = run("evaluate", "--store", store, "--layer", "1", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "r" / "r_at_1.csv", index_col=0)
    assert list(table.index) == ["en", "pt/BR"] and list(table.columns) == ["en", "pt/BR"]


# ---------------------------------------------------------------------- one bad item


def test_evaluate_a_manifest_goes_on_past_bad_audio(tmp_path, manifest, tiny_whisper_dir):
    (tmp_path / "audio" / "1" / "3.wav").write_bytes(b"broken")  # bb, sentence 3
    (tmp_path / "audio" / "2" / "4.wav").unlink()  # cc, sentence 4
    out = tmp_path / "r"
    result = run(
        "evaluate", "--manifest", manifest, "--model", tiny_whisper_dir, "--layer", "1",
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3.wav: unreadable or corrupt audio" in result.output
    assert "4.wav: file not found" in result.output
    assert "2 utterance(s) skipped (bad audio)" in result.output
    assert "dropped 1 sentence(s) missing in bb: 3" in result.output
    assert "3 sentences (chance 33.3 %)" in result.output
    saved = json.loads((out / "results.json").read_text())
    assert sorted(f["key"] for f in saved["failures"]) == ["bb/3", "cc/4"]
    assert saved["settings"]["missing_sentences"] == {"bb": ["3"], "cc": ["4"]}
    assert {pair["n"] for pair in saved["pairs"]} == {3}
    assert "## Skipped utterances" in (out / "report.md").read_text()


def test_missing_sentences_are_reported_from_a_manifest(tmp_path, tiny_whisper_dir):
    manifest = write_manifest(tmp_path)
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(line for line in lines if line != "2\tbb\taudio/1/2.wav"))
    result = run(
        "evaluate", "--manifest", manifest, "--model", tiny_whisper_dir, "--layer", "1",
        "--out", tmp_path / "r",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dropped 1 sentence(s) missing in bb: 2" in result.output


# ---------------------------------------------------------------------- options, checked first


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (["--langs", "aa"], ["retrieval needs at least two languages, got ['aa']"]),
        (["--langs", "aa,aa"], ["retrieval needs at least two languages"]),
        (["--metric", "seqsm"], ["unknown metric 'seqsm'; registered metrics:"]),
        (["--metric", "seqsim,cosine"], ["unknown metric 'cosine'"]),
        (["--device", "foo"], ["--device", "unknown device 'foo'"]),
        (["--backend", "numba", "--device", "cuda"], ["--device", "cuda"]),
        (["--layer", "four"], ["'four': give layer indices"]),
    ],
)
def test_bad_evaluate_options_fail_before_any_embedding(
    tmp_path, manifest, tiny_whisper_dir, arguments, fragments
):
    store = tmp_path / "store"
    result = run(
        "evaluate", "--manifest", manifest, "--model", tiny_whisper_dir, "--store", store,
        "--out", tmp_path / "r", *arguments,
    )  # fmt: skip
    exit_code = 1 if arguments[0] == "--langs" else 2  # the rest are usage errors
    one_line_error(result, *fragments, exit_code=exit_code)
    assert not (store / "shards").exists()  # nothing was embedded


@pytest.mark.parametrize(
    ("arguments", "option"),
    [(["--k", "0"], "--k"), (["--k", "-3"], "--k"), (["--bootstrap", "-5"], "--bootstrap")],
)
def test_out_of_range_numbers_are_usage_errors(tmp_path, arguments, option):
    result = run("evaluate", "--store", tmp_path, "--out", tmp_path / "r", *arguments)
    one_line_error(result, f"Invalid value for '{option}'", exit_code=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"langs": ["aa"]}, "retrieval needs at least two languages"),
        ({"metric": "nope"}, "unknown metric 'nope'"),
    ],
)
def test_the_api_checks_options_before_embedding(tmp_path, manifest, options, message):
    """(The scoring options are checked where they are made: tests/test_evaluation_options.)"""
    from seqsim.corpus import read_manifest
    from seqsim.evaluation import evaluate

    with pytest.raises(ValueError) as caught:  # the model is never even loaded
        evaluate(read_manifest(manifest), model="no-such-model", store=tmp_path / "s", **options)
    assert message in str(caught.value)


@pytest.mark.parametrize("device", ["foo", "cuda:7x"])
def test_bad_embed_devices_are_one_line(tmp_path, manifest, tiny_whisper_dir, device):
    one_line_error(embed(manifest, tmp_path / "s", tiny_whisper_dir, "--device", device), device)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_is_one_line(tmp_path, manifest, tiny_whisper_dir):
    one_line_error(embed(manifest, tmp_path / "s", tiny_whisper_dir, "--device", "cuda"), "CUDA")


def test_unwritable_outputs_fail_before_the_work(tmp_path, manifest, tiny_whisper_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    store = tmp_path / "store"
    result = run(
        "evaluate", "--manifest", manifest, "--model", tiny_whisper_dir, "--store", store,
        "--out", blocker / "report",
    )  # fmt: skip
    one_line_error(result, str(blocker / "report"), "cannot write the report there")
    assert not store.exists()
    one_line_error(embed(manifest, blocker / "store", tiny_whisper_dir), "cannot write the store")


def test_a_read_only_filesystem_fails_before_the_work(tmp_path, manifest, tiny_whisper_dir):
    with small_disk(tmp_path / "ro", 64) as folder:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        store = tmp_path / "store"
        result = run(
            "evaluate", "--manifest", manifest, "--model", tiny_whisper_dir, "--store", store,
            "--out", folder / "report",
        )  # fmt: skip
        one_line_error(result, "cannot write the report there (Read-only file system)")
        assert not store.exists()


def test_a_read_only_store_can_still_be_read(tmp_path, manifest, tiny_whisper_dir):
    with small_disk(tmp_path / "ro", 1024) as folder:
        store = folder / "store"
        assert embed(manifest, store, tiny_whisper_dir).exit_code == 0
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        keys, frames = EmbeddingStore(store).load(1)
        assert len(keys) == 15 and np.isfinite(np.asarray(frames.frames)).all()
        result = run("evaluate", "--store", store, "--layer", "1", "--out", tmp_path / "r")
        assert result.exit_code == 0, result.output


# ---------------------------------------------------------------------- Ray


@pytest.mark.parametrize("command", ["embed", "evaluate", "search"])
def test_ray_without_the_extra_names_the_package_to_install(
    tmp_path, manifest, monkeypatch, command
):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    arguments = {
        "embed": ["embed", manifest, "--out", tmp_path / "s"],
        "evaluate": ["evaluate", "--manifest", manifest, "--model", "m", "--out", tmp_path / "r"],
        "search": ["search", tmp_path / "x.index", "--store", tmp_path / "s", "--out", "h.tsv"],
    }[command]
    one_line_error(
        run(*arguments, "--ray"), "needs the package 'ray'", "pip install 'seqsim-speech[ray]'"
    )
    from seqsim.distributed import RayCluster, RayNotInstalledError

    with pytest.raises(RayNotInstalledError, match=r"pip install 'seqsim-speech\[ray\]'"):
        RayCluster().connect()


def test_ray_options_without_ray_or_with_a_device_are_usage_errors(tmp_path, manifest):
    store = tmp_path / "s"
    result = run("embed", manifest, "--out", store, "--workers", "2", "--gpus-per-worker", "1")
    one_line_error(result, "--workers, --gpus-per-worker need --ray", exit_code=2)
    result = run("embed", manifest, "--out", store, "--ray", "--device", "cpu")
    one_line_error(result, "with --ray every worker picks its own device", exit_code=2)
    assert not store.exists() or not any(store.iterdir())


def test_ray_embedding_checks_its_options_and_inputs_before_any_cluster(tmp_path, manifest):
    from seqsim.distributed import RayCluster, embed_on_ray

    def refuse(*args, **kwargs):
        raise AssertionError("a cluster was started before the options were checked")

    cluster = RayCluster(workers=2)
    cluster.connect = refuse
    items = [("aa/0", str(manifest.parent / "audio" / "0" / "0.wav"))]
    for options, message in [
        ({"dtype": "float64"}, "dtype must be one of 'float16', 'float32'"),
        ({"shard_size": 0}, "shard_size must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"layers": 9}, "layer 9 does not exist"),
    ]:
        with pytest.raises(ValueError, match=message):
            embed_on_ray(items, tmp_path / "s", model=OFFLINE_BASE, cluster=cluster, **options)
    with pytest.raises(ValueError, match=r"aa/1: on a Ray cluster audio is read from files"):
        embed_on_ray(
            [("aa/1", (np.zeros(16), 16_000))], tmp_path / "s", model=OFFLINE_BASE, cluster=cluster
        )
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        RayCluster(workers=0)
