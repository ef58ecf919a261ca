"""report.html in a real browser (issue 24): headless Chromium (Debian's ``chromium``) driven
by Playwright for Python, on the report of a small real evaluation (bundled demo speech, a tiny
random Whisper, two metrics, the pair pictures of the worst failure of each pair).

The page is opened from ``file://``; every request it makes is recorded and must stay on
``file://``. Outside CI the tests skip, saying why, where Playwright or Chromium is missing;
in CI (``CI`` or ``SEQSIM_REQUIRE_BROWSER`` set, as ``.ci/run`` does) a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from seqsim import report_html
from seqsim.corpus import demo_corpus
from seqsim.evaluation import evaluate_grid
from seqsim.evaluation_options import ScoringOptions
from seqsim.report import write_report, write_reports
from seqsim.result import utterance_media

CHROMIUM = Path("/usr/bin/chromium")
LANGS = ["en", "fr", "de"]
SENTENCES = 6
PAIRS = [(q, c) for q in LANGS for c in LANGS if q != c]


def _browser_or_skip():
    """Playwright's sync API, or a skip (a failure in CI) saying what is missing."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "Playwright for Python is not installed (pip install playwright)"
    if missing is None and not CHROMIUM.is_file():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    if missing is None:
        return sync_playwright
    if os.environ.get("CI") or os.environ.get("SEQSIM_REQUIRE_BROWSER"):
        pytest.fail(f"the browser tests must run in CI: {missing}")
    pytest.skip(f"no browser for the report.html tests: {missing}")


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def evaluated(tiny_whisper_dir, tmp_path_factory):
    """Results of two metrics on real speech, with the utterances' audio and texts, and the
    store of their frames."""
    folder = tmp_path_factory.mktemp("browser-run")
    corpus = demo_corpus(LANGS, sentences=SENTENCES)
    results = evaluate_grid(
        corpus,
        model=str(tiny_whisper_dir),
        store=folder / "store",
        layers=[2],
        metrics=["seqsim", "avgsim"],
        langs=LANGS,
        scoring=ScoringOptions(bootstrap=50),
        progress=False,
    )
    for result in results.values():  # what the evaluation records of each utterance
        result.utterances = utterance_media(corpus.utterances)
    return results, folder / "store", {u.key: u.text for u in corpus.utterances}


@pytest.fixture(scope="module")
def report(evaluated, tmp_path_factory):
    results, store, _ = evaluated
    out = tmp_path_factory.mktemp("browser-report") / "report"
    write_reports(results, out, "svg", pictures=1, store=store)
    return out


class Page:
    """A page opened from file://, with every request it made."""

    def __init__(self, browser, path: Path) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(path.as_uri())

    def cells(self) -> dict[tuple[str, str], str]:
        return self.page.eval_on_selector_all(
            "section.view:not([hidden]) td.cell",
            "cells => cells.map(c => [c.dataset.queryLang, c.dataset.candidateLang, "
            "c.dataset.value])",
        )

    def open_pair(self, query_lang: str, candidate_lang: str) -> None:
        self.page.click(
            f'section.view:not([hidden]) td[data-query-lang="{query_lang}"]'
            f'[data-candidate-lang="{candidate_lang}"]'
        )

    def rows(self) -> list[dict[str, str]]:
        return self.page.eval_on_selector_all(
            "#queries tbody tr",
            "rows => rows.map(r => ({id: r.dataset.queryId, rank: r.dataset.rank, "
            "cells: Array.from(r.children).map(c => c.textContent)}))",
        )

    def durations(self) -> list[float]:
        """The duration of every player's audio, once its metadata loaded (-1 for an
        error)."""
        return self.page.evaluate(
            """() => Promise.all(Array.from(document.querySelectorAll('#queries audio')).map(
                audio => new Promise(done => {
                    if (audio.readyState >= 1) return done(audio.duration);
                    audio.addEventListener('loadedmetadata', () => done(audio.duration));
                    audio.addEventListener('error', () => done(-1));
                    audio.load();
                })))"""
        )

    def close(self) -> list[str]:
        self.page.close()
        return self.requests


@pytest.fixture
def page(browser, report):
    opened = Page(browser, report / "report.html")
    yield opened
    opened.close()
    assert not opened.errors, opened.errors
    leaving = [url for url in opened.requests if not url.startswith("file://")]
    assert opened.requests and not leaving, leaving


def _r_at_1(folder: Path) -> dict[tuple[str, str], str]:
    table = pd.read_csv(folder / "r_at_1.csv", index_col=0)
    return {(q, c): f"{table.loc[q, c]:.1f}" for q, c in PAIRS}


def _ranks(folder: Path, query_lang: str, candidate_lang: str) -> pd.DataFrame:
    ranks = pd.read_csv(folder / "ranks.csv", dtype={"id": str, "wrong": str})
    return ranks[(ranks.query_lang == query_lang) & (ranks.candidate_lang == candidate_lang)]


def test_every_cell_of_every_matrix_equals_its_r_at_1_csv(page, report):
    options = page.page.eval_on_selector_all("#view-select option", "o => o.map(x => x.text)")
    assert [option.split(",")[0] for option in options] == ["seqsim", "avgsim"]
    for number, folder in enumerate(["seqsim_layer2", "avgsim_layer2"]):
        page.page.select_option("#view-select", str(number))
        shown = {(q, c): value for q, c, value in page.cells()}
        assert shown == _r_at_1(report / folder)


def test_a_clicked_cell_lists_its_pairs_queries_as_ranks_csv_holds_them(page, report, evaluated):
    texts = evaluated[2]
    for query_lang, candidate_lang in [("en", "fr"), ("de", "en")]:
        page.open_pair(query_lang, candidate_lang)
        rows = page.rows()
        ranks = _ranks(report / "seqsim_layer2", query_lang, candidate_lang)
        assert [(r["id"], r["rank"]) for r in rows] == list(
            zip(ranks["id"], ranks["rank"].astype(str), strict=True)
        )
        for row, (_, rank) in zip(rows, ranks.iterrows(), strict=True):
            score, top, margin = (float(text) for text in row["cells"][2:5])
            assert score == pytest.approx(rank["score"], abs=5e-5)
            assert top == pytest.approx(max(rank["score"], rank["wrong_score"]), abs=5e-5)
            assert margin == pytest.approx(rank["score"] - rank["wrong_score"], abs=5e-5)
            assert row["cells"][5] == texts[f"{query_lang}/{rank['id']}"]  # the manifest's


def test_every_player_of_a_pair_loads_its_audio(page, report):
    page.open_pair("fr", "de")
    sources = page.page.eval_on_selector_all("#queries audio", "a => a.map(x => x.src)")
    assert len(sources) == 3 * SENTENCES  # query, correct translation, top wrong candidate
    durations = page.durations()
    assert len(durations) == len(sources) and all(d > 0 for d in durations), durations


def test_the_failures_filter_and_the_sorting(page, report):
    page.open_pair("en", "de")
    ranks = _ranks(report / "seqsim_layer2", "en", "de")
    page.page.check("#failures-only")
    failures = page.rows()
    assert sorted(r["id"] for r in failures) == sorted(ranks.loc[ranks["rank"] > 1, "id"])
    page.page.uncheck("#failures-only")
    page.page.select_option("#sort-by", "rank")
    by_rank = [int(r["rank"]) for r in page.rows()]
    assert by_rank == sorted(ranks["rank"], reverse=True)
    page.page.select_option("#sort-by", "margin")
    margins = [float(r["cells"][4]) for r in page.rows()]
    expected = sorted(ranks["score"] - ranks["wrong_score"])
    assert margins == pytest.approx(expected, abs=5e-5)


def test_the_worst_failures_open_their_pair_picture(page, report):
    shown = 0
    for query_lang, candidate_lang in PAIRS:
        page.open_pair(query_lang, candidate_lang)
        pictures = page.page.locator("#queries details")
        if pictures.count():
            pictures.first.locator("summary").click()
            width = page.page.eval_on_selector(
                "#queries details[open] img",
                "img => img.complete ? img.naturalWidth : "
                "new Promise(done => img.addEventListener('load', () => done(img.naturalWidth)))",
            )
            assert width > 100
            shown += 1
    assert shown  # a tiny random model fails somewhere


def test_screenshots_of_the_matrix_and_of_an_open_pair(page, tmp_path):
    page.page.screenshot(path=str(tmp_path / "matrix.png"), full_page=True)
    page.open_pair("en", "fr")
    page.page.screenshot(path=str(tmp_path / "pair.png"), full_page=True)
    for name in ("matrix.png", "pair.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_a_report_with_copied_audio_plays_after_it_is_moved(browser, evaluated, tmp_path):
    result = next(iter(evaluated[0].values()))
    write_report(result, tmp_path / "written", copy_audio=True)
    moved = shutil.move(tmp_path / "written", tmp_path / "moved")
    opened = Page(browser, Path(moved) / "report.html")
    opened.open_pair("en", "fr")
    durations = opened.durations()
    requests = opened.close()
    assert len(durations) == 3 * SENTENCES and all(d > 0 for d in durations), durations
    audio = [url for url in requests if "/audio/" in url]
    assert audio and all(url.startswith(Path(moved).as_uri()) for url in audio)


def test_a_shortened_pair_says_how_many_it_lists_and_lists_its_failures(
    browser, evaluated, tmp_path, monkeypatch
):
    result = evaluated[0][("seqsim", 2)]
    monkeypatch.setattr(report_html, "PAGE_QUERIES", 2 * len(PAIRS))  # 2 listed of 6 a pair
    write_report(result, tmp_path / "short")
    opened = Page(browser, tmp_path / "short" / "report.html")
    ranks = result.ranks
    checked = 0
    for query_lang, candidate_lang in PAIRS:
        opened.open_pair(query_lang, candidate_lang)
        rows = opened.rows()
        pair = ranks[(ranks.query_lang == query_lang) & (ranks.candidate_lang == candidate_lang)]
        failures = int((pair["rank"] > 1).sum())
        assert len(rows) == 2
        assert sum(int(row["rank"]) > 1 for row in rows) == min(2, failures)
        shown = opened.page.text_content("#pair-shown")
        assert shown.startswith(f"showing 2 of 2 queries listed (the pair has {SENTENCES}:")
        checked += failures > 0
    assert checked  # some pair put its failures first
    assert not opened.errors, opened.errors
    opened.close()
