"""`seqsim index build` and `seqsim search` end to end on a small store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from click.testing import CliRunner
from helpers import write_manifest

from seqsim import SeqSim
from seqsim.cli import main
from seqsim.store import EmbeddingStore


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_build_search_and_the_hits_file(tmp_path, tiny_whisper_dir):
    manifest = write_manifest(tmp_path)
    store = tmp_path / "store"
    assert run("embed", manifest, "--model", tiny_whisper_dir, "--out", store).exit_code == 0
    index = tmp_path / "corpus.index"
    # a shortlist as long as the corpus: the results must be the exhaustive ones
    built = run("index", "build", "--store", store, "--out", index, "--candidates", "15")
    assert built.exit_code == 0, built.output
    assert f"indexed 15 utterances of {store} (layer 2)" in built.output
    hits = tmp_path / "hits.tsv"
    result = run("search", index, "--store", store, "--langs", "aa", "--k", "4", "--out", hits)
    assert result.exit_code == 0, result.output
    assert "searched 5 queries in" in result.output
    assert "queries/s), k=4, shortlist 15" in result.output
    table = pd.read_csv(hits, sep="\t", dtype={"query": str, "candidate": str})
    assert list(table.columns) == ["query", "rank", "candidate", "score"]
    assert len(table) == 20 and set(table["query"]) == {f"aa/{k}" for k in range(5)}
    # the exhaustive SeqSim ranking, computed here without the index
    keys, frames = EmbeddingStore(store).load(-1)
    queries = [n for n, key in enumerate(keys) if key.startswith("aa/")]
    matrix = SeqSim().matrix(frames.subset(np.array(queries)), frames)
    for row, query in zip(matrix, queries, strict=True):
        best = sorted(range(len(keys)), key=lambda j: (-row[j], j))[:4]
        hit_rows = table[table["query"] == keys[query]]
        assert list(hit_rows["candidate"]) == [keys[j] for j in best]
        np.testing.assert_allclose(hit_rows["score"], row[best], atol=1e-6)
    assert list(table[table["rank"] == 1]["candidate"]) == list(table[table["rank"] == 1]["query"])


def test_search_refuses_queries_of_another_model(tmp_path, tiny_whisper_dir):
    manifest = write_manifest(tmp_path)
    store = tmp_path / "store"
    run("embed", manifest, "--model", tiny_whisper_dir, "--out", store)
    run("index", "build", "--store", store, "--out", tmp_path / "i.index")
    other = run(
        "search", tmp_path / "i.index", "--manifest", manifest, "--model", "openai/whisper-tiny",
        "--out", tmp_path / "h.tsv",
    )  # fmt: skip
    assert other.exit_code == 1
    assert f"indexes frames of '{tiny_whisper_dir}', not of 'openai/whisper-tiny'" in other.output
    broken = tmp_path / "broken.index"
    broken.write_bytes(b"PK\x03\x04junk")
    result = run("search", broken, "--store", store, "--out", tmp_path / "h.tsv")
    assert result.exit_code == 1 and "not a readable seqsim index" in result.output
    usage = run("search", tmp_path / "i.index", "--out", tmp_path / "h.tsv")
    assert usage.exit_code == 2 and "give --store, or --manifest" in usage.output


def test_evaluate_through_the_index(tmp_path, tiny_whisper_dir):
    manifest = write_manifest(tmp_path)
    store = tmp_path / "store"
    run("embed", manifest, "--model", tiny_whisper_dir, "--out", store)
    exhaustive = run("evaluate", "--store", store, "--out", tmp_path / "exhaustive")
    searched = run(
        "evaluate", "--store", store, "--search", "index", "--candidates", "100",
        "--out", tmp_path / "index",
    )  # fmt: skip
    assert exhaustive.exit_code == 0 and searched.exit_code == 0, searched.output
    for lang in ("aa", "bb", "cc"):
        assert f"- {lang} -> every other language pooled: R@1" in searched.output
    assert "agreement with exhaustive search (shortlist 100): top-1 100.0 %" in searched.output
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "index" / "r_at_1.csv", index_col=0),
        pd.read_csv(tmp_path / "exhaustive" / "r_at_1.csv", index_col=0),
    )
    results = json.loads((tmp_path / "index" / "results.json").read_text())
    pooled = [pair for pair in results["pairs"] if pair["candidate_lang"] == "pooled"]
    assert len(pooled) == 3 and results["settings"]["search"] == "index"
    assert "## Search through the index" in (tmp_path / "index" / "report.md").read_text()


def test_a_moved_store_is_found_beside_its_index_or_named_with_how_to_relink_it(
    tmp_path, tiny_whisper_dir
):
    project = tmp_path / "project"
    project.mkdir()
    manifest = write_manifest(tmp_path)
    assert (
        run("embed", manifest, "--model", tiny_whisper_dir, "--out", project / "store").exit_code
        == 0
    )
    built = run(
        "index",
        "build",
        "--store",
        project / "store",
        "--out",
        project / "c.index",
        "--candidates",
        "15",
    )
    assert built.exit_code == 0, built.output
    search = ["--store", tmp_path / "moved" / "store", "--k", "2", "--out", tmp_path / "h.tsv"]
    # store and index moved together: found at the same place relative to the index
    (project).rename(tmp_path / "moved")
    together = run("search", tmp_path / "moved" / "c.index", *search)
    assert together.exit_code == 0, together.output
    # the store moved alone: named, with the option that gives its new place
    (tmp_path / "moved" / "store").rename(tmp_path / "elsewhere")
    search[1] = tmp_path / "elsewhere"
    lost = run("search", tmp_path / "moved" / "c.index", *search)
    assert lost.exit_code == 1
    assert "its store is missing: it is neither at" in lost.output
    assert str(project / "store") in lost.output and "--indexed-store DIR" in lost.output
    assert "no store.json" not in lost.output
    relinked = run(
        "search", tmp_path / "moved" / "c.index", "--indexed-store", tmp_path / "elsewhere", *search
    )
    assert relinked.exit_code == 0, relinked.output
    first = pd.read_csv(tmp_path / "h.tsv", sep="\t", dtype=str)
    assert list(first[first["rank"] == "1"]["candidate"]) == list(
        first[first["rank"] == "1"]["query"]
    )


def test_an_index_of_some_languages_searched_with_the_filters(tmp_path, tiny_whisper_dir):
    manifest = write_manifest(tmp_path)
    store = tmp_path / "store"
    assert run("embed", manifest, "--model", tiny_whisper_dir, "--out", store).exit_code == 0
    index = tmp_path / "bc.index"
    built = run(
        "index", "build", "--store", store, "--langs", "cc,bb", "--out", index,
        "--candidates", "10",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    assert f"indexed 10 utterances in bb, cc of {store} (layer 2)" in built.output
    keys, frames = EmbeddingStore(store).load(-1)
    matrix = SeqSim().matrix(frames, frames)

    def expected(query, allowed):
        """The hand-filtered exhaustive ranking of ``query`` among the ``allowed`` keys."""
        row = matrix[keys.index(query)]
        chosen = [j for j, key in enumerate(keys) if allowed(key)]
        return [keys[j] for j in sorted(chosen, key=lambda j: (-row[j], j))[:3]]

    def hits(*options):
        out = tmp_path / "hits.tsv"
        result = run("search", index, "--store", store, "--k", "3", "--out", out, *options)
        assert result.exit_code == 0, result.output
        table = pd.read_csv(out, sep="\t", dtype={"query": str, "candidate": str})
        return {q: list(rows["candidate"]) for q, rows in table.groupby("query", sort=False)}

    def lang(key):
        return key.split("/")[0]

    # every query of bb finds itself first unless --exclude-self
    plain = hits("--langs", "bb")
    assert all(found[0] == query for query, found in plain.items()) and len(plain) == 5
    itself = hits("--langs", "aa,bb", "--exclude-self")
    for query in [key for key in keys if lang(key) in ("aa", "bb")]:
        assert itself[query] == expected(
            query, lambda key, q=query: lang(key) in ("bb", "cc") and key != q
        )
    own = hits("--langs", "bb,cc", "--exclude-own-language", "--candidate-langs", "cc")
    assert set(own) == {key for key in keys if lang(key) == "bb"}  # cc queries: none left
    for query, found in own.items():
        assert found == expected(query, lambda key: lang(key) == "cc")
    absent = run(
        "search", index, "--store", store, "--candidate-langs", "aa", "--out", tmp_path / "h.tsv"
    )
    assert absent.exit_code == 1
    assert "the index: no utterance in aa; the languages there: bb, cc" in absent.output
    unknown = run("index", "build", "--store", store, "--langs", "xx", "--out", tmp_path / "x")
    assert unknown.exit_code == 1 and "no utterance in xx; the languages there: aa, bb, cc" in (
        unknown.output
    )
