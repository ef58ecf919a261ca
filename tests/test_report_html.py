"""report.html without a browser (issue 24): what the page holds (its cells against
r_at_1.csv, its data against ranks.csv, its links against the files), the scores recorded in
ranks.csv, the paired tests in results.json and report.md, the pictures and their cost, the
refusals of damaged files, reports of older seqsim, and ``seqsim view``."""

from __future__ import annotations

import json
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
import soundfile
from click.testing import CliRunner
from helpers import tone

from seqsim import PackedSequences, SeqSim, report_html
from seqsim.cli import main
from seqsim.cli.view import serve
from seqsim.evaluation import evaluate_embeddings
from seqsim.evaluation_options import ScoringOptions, SearchOptions
from seqsim.report import write_report, write_reports
from seqsim.report_html import HtmlReportError
from seqsim.result import RetrievalResult
from seqsim.result_file import ResultFileError
from seqsim.run_folder import read_run_record
from seqsim.store import EmbeddingStore

LANGS = ("en", "fr")
IDS = [f"s{n}" for n in range(6)]
HOSTILE_TEXT = 'Ende.</script><script>window.hacked = 1</script> & "quoted" <b>'


class Page(HTMLParser):
    """The page's matrix cells, every src/href, its scripts and its data."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.links: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.options: list[str] = []
        self._in_data = False
        self.data_text = ""
        self.feed(text)
        self.data = json.loads(self.data_text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "td" and "data-value" in attributes:
            key = (attributes["data-query-lang"], attributes["data-candidate-lang"])
            self.cells[key] = attributes["data-value"]
        self.links += [attributes[name] for name in ("src", "href") if name in attributes]
        if tag == "script":
            self.scripts.append(attributes)
            self._in_data = attributes.get("id") == "report-data"
        if tag == "option":
            self.options.append(attributes.get("value"))
        if tag == "link":
            self.links.append(attributes.get("href"))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_data = False

    def handle_data(self, data):
        if self._in_data:
            self.data_text += data


def frames_of(rng, count, noise):
    """Two frames per sentence around a one-hot direction of its own, plus noise."""
    base = np.repeat(np.eye(8, dtype=np.float32)[:count], 2, axis=0)
    noisy = base + rng.normal(0, noise, base.shape).astype(np.float32)
    return PackedSequences.from_lengths(noisy, [2] * count)


@pytest.fixture
def audio(tmp_path):
    """A wav file per utterance, with a text (a hostile one for fr/s1)."""
    media = {}
    for number, lang in enumerate(LANGS):
        for k, utterance in enumerate(IDS):
            path = tmp_path / "corpus" / lang / f"{utterance} #{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, tone(0.3 + 0.05 * k, frequency=300.0 + 40 * k + number), 16_000)
            media[f"{lang}/{utterance}"] = {"path": str(path), "text": f"{lang} sentence {k}"}
    media["fr/s1"]["text"] = HOSTILE_TEXT
    return media


@pytest.fixture
def result(audio):
    rng = np.random.default_rng(0)
    embeddings = {lang: (IDS, frames_of(rng, len(IDS), 0.8)) for lang in LANGS}
    result = evaluate_embeddings(
        embeddings, settings={"model": "toy", "layer": 3}, scoring=ScoringOptions(bootstrap=20)
    )
    result.utterances = audio
    return result


def test_rank_rows_hold_the_scores_of_the_correct_and_best_wrong_candidates():
    rng = np.random.default_rng(1)
    packed = {lang: frames_of(rng, 5, 1.0) for lang in LANGS}
    result = evaluate_embeddings({lang: (IDS[:5], packed[lang]) for lang in LANGS})
    ranks = result.ranks[result.ranks.query_lang == "en"]
    scores = SeqSim().matrix(packed["en"], packed["fr"])  # the reference: all pairs scored
    for query, row in enumerate(ranks.itertuples()):
        others = np.delete(scores[query], query)
        best_wrong = int(np.argmax(np.where(np.arange(5) == query, -np.inf, scores[query])))
        assert row.score == pytest.approx(scores[query, query], abs=1e-6)
        assert row.wrong_score == pytest.approx(others.max(), abs=1e-6)
        assert row.wrong == IDS[best_wrong]
        assert (row.rank == 1) == (scores[query, query] >= others.max())


def test_the_page_holds_the_matrix_and_every_pairs_queries_as_the_files_do(result, tmp_path):
    files = write_report(result, tmp_path / "report")
    page = Page(files["report.html"].read_text(encoding="utf-8"))
    table = pd.read_csv(files["r_at_1.csv"], index_col=0)
    assert page.cells == {
        ("en", "fr"): f"{table.loc['en', 'fr']:.1f}",
        ("fr", "en"): f"{table.loc['fr', 'en']:.1f}",
    }
    ranks = pd.read_csv(files["ranks.csv"], dtype={"id": str, "wrong": str})
    (view,) = page.data["views"]
    for (query_lang, candidate_lang), rows in ranks.groupby(["query_lang", "candidate_lang"]):
        pair = view["pairs"][f"{query_lang}\t{candidate_lang}"]
        assert pair["id"] == rows["id"].tolist() and pair["rank"] == rows["rank"].tolist()
        assert pair["score"] == pytest.approx(rows["score"].tolist(), abs=5e-5)
        assert pair["margin"] == pytest.approx(
            (rows["score"] - rows["wrong_score"]).tolist(), abs=5e-5
        )
        keys = [page.data["media"][index]["key"] for index in pair["wrong"]]
        assert keys == [f"{candidate_lang}/{w}" for w in rows["wrong"]]


def test_a_large_run_lists_each_pairs_failures_first_within_the_page_budget(
    result, tmp_path, monkeypatch
):
    ranks = result.ranks
    pairs = ranks.groupby(["query_lang", "candidate_lang"])
    assert len(pairs) == 2 and (ranks["rank"] > 1).sum() >= 2  # some failures to put first
    monkeypatch.setattr(report_html, "PAGE_QUERIES", 8)  # 12 queries: 4 listed per pair
    files = write_report(result, tmp_path / "report")
    text = files["report.html"].read_text(encoding="utf-8")
    page = Page(text)
    assert "This run ranks 12 queries; the page lists at most 4 per language pair" in text
    for (query_lang, candidate_lang), rows in pairs:
        listed = page.data["views"][0]["pairs"][f"{query_lang}\t{candidate_lang}"]
        failures = rows[rows["rank"] > 1].sort_values(
            ["rank", "score"], ascending=[False, True], kind="stable"
        )
        # the reference, by hand: the worst failures, then the first hits, in corpus order
        kept = list(failures.index[:4])
        kept += list(rows[rows["rank"] == 1].index[: 4 - len(kept)])
        assert listed["id"] == rows.loc[sorted(kept), "id"].tolist()
        assert listed["total"] == 6 and len(listed["rank"]) == 4
    monkeypatch.undo()
    whole = Page(write_report(result, tmp_path / "whole")["report.html"].read_text())
    assert all("total" not in pair for pair in whole.data["views"][0]["pairs"].values())


def test_the_page_of_an_index_search_shows_its_scores_and_margins(audio, tmp_path):
    rng = np.random.default_rng(0)
    embeddings = {lang: (IDS, frames_of(rng, len(IDS), 0.8)) for lang in LANGS}
    searched = evaluate_embeddings(
        embeddings, settings={"model": "toy", "layer": 3}, search=SearchOptions("index", 3)
    )
    searched.utterances = audio
    files = write_report(searched, tmp_path / "report")
    page = Page(files["report.html"].read_text(encoding="utf-8"))
    ranks = pd.read_csv(files["ranks.csv"], dtype={"id": str, "wrong": str})
    assert set(page.data["views"][0]["pairs"]) == {"en\tfr", "fr\ten"}  # pooled rows: no cell
    for (query_lang, candidate_lang), rows in ranks.groupby(["query_lang", "candidate_lang"]):
        if candidate_lang == "pooled":
            continue
        pair = page.data["views"][0]["pairs"][f"{query_lang}\t{candidate_lang}"]
        scores = SeqSim().matrix(embeddings[query_lang][1], embeddings[candidate_lang][1])
        assert pair["score"] == pytest.approx(np.diag(scores).tolist(), abs=5e-5)
        assert pair["margin"] == pytest.approx(
            (rows["score"] - rows["wrong_score"]).tolist(), abs=5e-5
        )
        keys = [page.data["media"][index]["key"] for index in pair["wrong"]]
        assert keys == [f"{candidate_lang}/{w}" for w in rows["wrong"]]


def test_the_page_needs_nothing_but_its_own_file_and_the_audio(result, audio, tmp_path):
    files = write_report(result, tmp_path / "report")
    text = files["report.html"].read_text(encoding="utf-8")
    page = Page(text)
    assert all("src" not in script for script in page.scripts)  # inline scripts only
    assert "<link" not in text and "@import" not in text and "url(" not in text
    assert page.links == []  # the players are made by the script, from the data
    for media in page.data["media"]:
        target = (files["report.html"].parent / unquote(media["audio"])).resolve()
        assert target == Path(audio[media["key"]]["path"]).resolve()
    assert "://" not in json.dumps(page.data)


def test_a_hostile_text_stays_data(result, tmp_path):
    files = write_report(result, tmp_path / "report")
    text = files["report.html"].read_text(encoding="utf-8")
    assert text.count("</script>") == 2  # the data's and the script's own
    page = Page(text)
    assert {m["key"]: m["text"] for m in page.data["media"]}["fr/s1"] == HOSTILE_TEXT


def test_copied_audio_lies_in_the_report_and_is_listed_by_its_run(result, audio, tmp_path):
    out = tmp_path / "report"
    files = write_report(result, out, copy_audio=True)
    page = Page(files["report.html"].read_text(encoding="utf-8"))
    listed = read_run_record(out)["files"]
    for media in page.data["media"]:
        copy = out / unquote(media["audio"])
        assert copy.parent == out / "audio"
        assert copy.read_bytes() == Path(audio[media["key"]]["path"]).read_bytes()
        assert copy.relative_to(out).as_posix() in listed
    assert len(list((out / "audio").iterdir())) == 2 * len(IDS)  # each file copied once


def test_missing_audio_leaves_its_players_out_and_says_so(result, tmp_path):
    Path(result.utterances["en/s2"]["path"]).unlink()
    files = write_report(result, tmp_path / "report")
    text = files["report.html"].read_text(encoding="utf-8")
    media = {m["key"]: m for m in Page(text).data["media"]}
    assert media["en/s2"]["audio"] is None and media["en/s3"]["audio"]
    assert "1 audio file(s) were not found when the report was written (e.g. en/s2)" in text


def test_significance_is_in_results_json_report_md_and_the_grid_page(result, tmp_path):
    other = evaluate_embeddings(
        {lang: (IDS, frames_of(np.random.default_rng(0), len(IDS), 0.8)) for lang in LANGS},
        "avgsim",
        settings={"model": "toy", "layer": 3},
    )
    report = write_reports({("seqsim", 3): result, ("avgsim", 3): other}, tmp_path / "grid")
    data = json.loads((report.folders[("seqsim", 3)] / "results.json").read_text())
    (compared,) = data["significance"]["comparisons"]
    assert compared["name"] == "avgsim_layer3"
    assert compared["difference"] == pytest.approx(result.mean() - other.mean())
    assert data["significance"]["mean_r@1"]["value"] == pytest.approx(result.mean())
    markdown = (report.folders[("seqsim", 3)] / "report.md").read_text()
    assert "## Significance" in markdown and "| avgsim_layer3 |" in markdown
    page = Page((tmp_path / "grid" / "report.html").read_text(encoding="utf-8"))
    assert page.options[:2] == ["0", "1"] and len(page.data["views"]) == 2
    assert RetrievalResult.load(report.folders[("seqsim", 3)]) == result


def test_pictures_of_the_worst_failures_and_what_they_cost(result, tmp_path):
    store = EmbeddingStore(tmp_path / "store")
    rng = np.random.default_rng(0)
    settings = {"model": "toy", "layers": [3], "dtype": "float32", "hidden_states": 4}
    with store.writer(settings) as writer:  # the frames of the result, as evaluated
        for lang in LANGS:
            packed = frames_of(rng, len(IDS), 0.8)
            for number, utterance in enumerate(IDS):
                writer.add(f"{lang}/{utterance}", {3: np.asarray(packed[number])})
    files = write_report(result, tmp_path / "report", pictures=1, store=store.path)
    text = files["report.html"].read_text(encoding="utf-8")
    drawn = sorted((tmp_path / "report" / "pairs").rglob("*.jpg"))
    failing = result.ranks[result.ranks["rank"] > 1].groupby(["query_lang", "candidate_lang"])
    assert len(drawn) == failing.ngroups  # the worst failure of each pair that fails
    size = sum(path.stat().st_size for path in drawn)
    assert f"Pair pictures of the worst failures: {len(drawn)}, {size / 1e3:.0f} kB" in text
    for (query_lang, candidate_lang), rows in failing:
        worst = rows.assign(margin=rows.score - rows.wrong_score).sort_values(
            ["rank", "margin"], ascending=[False, True]
        )
        pair = Page(text).data["views"][0]["pairs"][f"{query_lang}\t{candidate_lang}"]
        linked = [p for p in pair["picture"] if p]
        assert linked == [f"pairs/{query_lang}-{candidate_lang}/{worst['id'].iloc[0]}.jpg"]


def test_pictures_need_a_store_of_the_results_frames(result, tmp_path):
    with pytest.raises(ValueError, match=r"pictures=2 draws the worst failures .* \(store=\)"):
        write_report(result, tmp_path / "a", pictures=2)
    with pytest.raises(ValueError, match="pictures must be an integer >= 0"):
        write_report(result, tmp_path / "b", pictures=-1)
    store = EmbeddingStore(tmp_path / "store")
    with store.writer(
        {"model": "other", "layers": [3], "dtype": "float32", "hidden_states": 4}
    ) as w:
        w.add("en/s0", {3: np.ones((2, 8))})
    with pytest.raises(HtmlReportError, match=rf"{tmp_path / 'store'}: holds no frames of 'toy'"):
        write_report(result, tmp_path / "c", pictures=1, store=store.path)


def test_a_report_of_an_older_seqsim_loads_and_renders_without_scores(result, tmp_path):
    files = write_report(result, tmp_path / "old")
    ranks = pd.read_csv(files["ranks.csv"], dtype=str, keep_default_na=False)
    ranks.drop(columns=["score", "wrong", "wrong_score"]).to_csv(files["ranks.csv"], index=False)
    data = json.loads(files["results.json"].read_text())
    del data["utterances"], data["significance"]
    files["results.json"].write_text(json.dumps(data))
    loaded = RetrievalResult.load(tmp_path / "old")
    assert loaded.utterances == {} and "score" not in loaded.ranks.columns
    page = write_report(loaded, tmp_path / "again")["report.html"].read_text(encoding="utf-8")
    pair = Page(page).data["views"][0]["pairs"]["en\tfr"]
    assert "score" not in pair and pair["rank"] == loaded.ranks["rank"].tolist()[: len(IDS)]
    assert "No players: the results record no audio files" in page


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda r: r.assign(wrong_score=r.score + 1), 'line 2 "rank" is 1, but its correct'),
        (lambda r: r.assign(score="high"), 'line 2 "score" is "high"; a score is a finite'),
        (lambda r: r.drop(columns=["wrong_score"]), "has 'score' but lacks the column 'wrong_sc"),
    ],
    ids=["scores-against-rank", "not-a-number", "half-the-scores"],
)
def test_damaged_scores_in_ranks_csv_are_refused_naming_file_and_line(
    result, tmp_path, damage, expected
):
    files = write_report(result, tmp_path / "report")
    ranks = pd.read_csv(files["ranks.csv"], dtype={"id": str, "wrong": str})
    ranks = ranks.sort_values("rank", kind="stable").reset_index(drop=True)  # a rank 1 first
    damage(ranks).to_csv(files["ranks.csv"], index=False)
    with pytest.raises(ResultFileError) as refused:
        RetrievalResult.load(tmp_path / "report")
    assert str(refused.value).startswith(f"{files['ranks.csv']}: ") and expected in str(
        refused.value
    )


def test_damaged_utterances_in_results_json_are_refused_naming_the_field(result, tmp_path):
    files = write_report(result, tmp_path / "report")
    data = json.loads(files["results.json"].read_text())
    data["utterances"]["en/s0"] = {"path": 5}
    files["results.json"].write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match=r'utterances\["en/s0"\]\["path"\] is 5; a results'):
        RetrievalResult.load(tmp_path / "report")


def test_view_opens_the_page_in_the_browser(result, tmp_path, monkeypatch):
    write_report(result, tmp_path / "report")
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    outcome = CliRunner().invoke(main, ["view", str(tmp_path / "report")])
    assert outcome.exit_code == 0, outcome.output
    assert opened == [(tmp_path / "report" / "report.html").absolute().as_uri()]
    missing = CliRunner().invoke(main, ["view", str(tmp_path)])
    assert missing.exit_code == 1 and f"{tmp_path}: no report.html there" in missing.output


def test_view_serves_the_report_folder_on_this_machine(result, tmp_path):
    files = write_report(result, tmp_path / "report")
    with serve(tmp_path / "report", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        host, port = server.server_address[:2]
        with urllib.request.urlopen(f"http://{host}:{port}/report.html") as response:
            assert response.read() == files["report.html"].read_bytes()
        server.shutdown()
    assert host == "127.0.0.1"
