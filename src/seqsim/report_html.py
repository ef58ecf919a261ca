"""``report.html``: one self-contained page to see and hear why retrieval fails.

The page (:func:`html_page`) holds the R@1 matrix of each result of a run (a selector between
them where there are several), the mean R@1 with its interval and the paired tests between
the results (:mod:`seqsim.significance`); clicking a cell lists that pair's queries: the rank
of the correct candidate, the score of the correct candidate and of the top one, the margin
(:func:`pair_queries`), the query's text, and players for the query, its correct translation
and the top wrong candidate. Optionally, the pair picture of the worst failures
(:func:`render_pictures`, the :mod:`seqsim.pair` picture).

Everything is inline (styles, script, data): the page works from ``file://`` with no server
and no network. Audio is linked relative to the page (:class:`AudioLinks`), or copied into the
report folder so that the report moves with its sound.

The page's test contract: each matrix cell is a ``td`` with ``data-query-lang``,
``data-candidate-lang`` and ``data-value`` (R@1 in percent, one decimal, as ``r_at_1.csv``);
each listed query is a ``tr`` with ``data-query-id`` and ``data-rank``; each player is an
``<audio>`` element with a ``src``.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex

from .corpus import Utterance
from .result import RetrievalResult
from .run_folder import RunFolder
from .significance import Comparison

PAGE_FILE = "report.html"
"""The page's file name in a report folder."""
AUDIO_FOLDER = "audio"
"""Where ``copy_audio`` puts the audio, in the run's folder."""
PICTURE_FOLDER = "pairs"
"""Where the pair pictures go, in each result's folder."""
PICTURE_DPI = 60
"""Resolution of the pair pictures (8 x 7 inches: 480 x 420 pixels), small for the page."""
PICTURE_QUALITY = 75
"""JPEG quality of the pair pictures: about 30 kB each on the demo, a third of a PNG's."""
SCORE_DIGITS = 4
"""Decimals of the scores the page shows (and holds)."""
PAGE_QUERIES = 200_000
"""Query rows a page lists at most, over all its results and pairs (about 90 bytes each in
the page: some 18 MB). A larger run lists, per pair, an equal share of them: the failures
first, worst first (:func:`listed_queries`); ``ranks.csv`` holds every query."""
_PLACES = ("@@TITLE@@", "@@BODY@@", "@@DATA@@")
"""Where the template takes the title, the body and the data."""


class HtmlReportError(ValueError):
    """What the page cannot be written from: a store without the result's frames for its
    pictures; the message names the store and what is wrong.

    Examples
    --------
    >>> from seqsim.report_html import HtmlReportError
    >>> issubclass(HtmlReportError, ValueError)
    True
    """


@dataclass
class PageView:
    """One result as the page shows it.

    Parameters
    ----------
    label : str
        Its name in the selector and above its matrix (metric, model, layer).
    result : RetrievalResult
        The result: its ranks list each pair's queries, its ``utterances`` give the audio.
    matrix : pandas.DataFrame
        R@1 in percent, rounded as ``r_at_1.csv`` (query languages as rows).
    facts : list of str
        The lines under its title: N, chance, mean R@1 and its interval, the settings hash.
    intervals : (pandas.DataFrame, pandas.DataFrame), optional
        Low and high bootstrap bounds of each cell, in percent.
    pictures : dict of (str, str, str) to Path, default {}
        The pair picture of (query_lang, candidate_lang, query id), where rendered.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.report_html import PageView
    >>> from seqsim.result import RetrievalResult
    >>> result = RetrievalResult(["en", "fr"], pd.DataFrame(), pd.DataFrame())
    >>> PageView("seqsim", result, pd.DataFrame(), ["N = 2"]).pictures
    {}
    """

    label: str
    result: RetrievalResult
    matrix: pd.DataFrame
    facts: list[str]
    intervals: tuple[pd.DataFrame, pd.DataFrame] | None = None
    pictures: dict[tuple[str, str, str], Path] = field(default_factory=dict)


@dataclass(frozen=True)
class ComparisonRow:
    """One paired comparison as the page lists it: two results' labels and the test.

    Examples
    --------
    >>> from seqsim.report_html import ComparisonRow
    >>> from seqsim.significance import Comparison
    >>> ComparisonRow("seqsim", "avgsim", Comparison(8, 0.5, 0.2, 0.8, 0.01, 4, 0, 0.125)).second
    'avgsim'
    """

    first: str
    second: str
    comparison: Comparison


def pair_queries(result: RetrievalResult) -> dict[tuple[str, str], pd.DataFrame]:
    """Each language pair's queries as the page lists them.

    Parameters
    ----------
    result : RetrievalResult
        A result with ranks (pooled rows of an index search are left out).

    Returns
    -------
    dict of (str, str) to pandas.DataFrame
        Per (query_lang, candidate_lang), in the ranks' order: ``id``, ``rank`` (inf for a
        miss of an index), ``correct`` (the correct candidate's id: the ranks' ``correct``,
        else the query's id) and, where the ranks hold scores, ``score`` (the correct
        candidate's), ``wrong`` (the best-scoring wrong candidate), ``top`` (the top
        candidate's score: the better of the two) and ``margin`` (the correct candidate's
        score less the best wrong one's: negative exactly for a failure but a tie).

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.report_html import pair_queries
    >>> from seqsim.result import RetrievalResult
    >>> ranks = pd.DataFrame({"query_lang": "en", "candidate_lang": "fr", "id": ["s1", "s2"],
    ...                       "rank": [1, 2], "retrieved": ["s1", "s1"], "score": [0.9, 0.4],
    ...                       "wrong": ["s2", "s1"], "wrong_score": [0.5, 0.7]})
    >>> table = pair_queries(RetrievalResult(["en", "fr"], pd.DataFrame(), ranks))[("en", "fr")]
    >>> table[["id", "top", "margin"]].round(2).to_dict("list")
    {'id': ['s1', 's2'], 'top': [0.9, 0.7], 'margin': [0.4, -0.3]}
    """
    ranks = result.ranks
    if ranks.empty:
        return {}
    table = pd.DataFrame(
        {
            "query_lang": ranks["query_lang"],
            "candidate_lang": ranks["candidate_lang"],
            "id": ranks["id"],
            "rank": pd.to_numeric(ranks["rank"], errors="coerce").astype(float),
            "correct": ranks["correct"] if "correct" in ranks.columns else ranks["id"],
        }
    )
    if "score" in ranks.columns:
        table["score"] = ranks["score"]
        table["wrong"] = ranks["wrong"]
        table["top"] = np.maximum(ranks["score"], ranks["wrong_score"])
        table["margin"] = ranks["score"] - ranks["wrong_score"]
    grouped = table.groupby(["query_lang", "candidate_lang"], sort=False)
    return {
        (str(q), str(c)): rows.drop(columns=["query_lang", "candidate_lang"])
        for (q, c), rows in grouped
        if c in result.languages
    }


def listed_queries(queries: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The queries of a pair that a page lists when it can list only ``limit``: the
    failures first, worst first (:func:`worst_failures`), then the hits, in corpus order.

    Parameters
    ----------
    queries : pandas.DataFrame
        A pair's queries (:func:`pair_queries`).
    limit : int
        How many at most.

    Returns
    -------
    pandas.DataFrame
        The queries listed, in their corpus order (all of them within the limit).

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.report_html import listed_queries
    >>> queries = pd.DataFrame({"id": ["a", "b", "c", "d", "e"],
    ...                         "rank": [1.0, 3.0, 1.0, 2.0, 1.0]})
    >>> listed_queries(queries, 3)["id"].tolist()
    ['a', 'b', 'd']
    >>> listed_queries(queries, 1)["id"].tolist()
    ['b']
    """
    if len(queries) <= limit:
        return queries
    failures = worst_failures(queries, limit)
    hits = queries[~queries.index.isin(failures.index)].head(limit - len(failures))
    kept = queries.index.isin(failures.index) | queries.index.isin(hits.index)
    return queries[kept]


def worst_failures(queries: pd.DataFrame, count: int) -> pd.DataFrame:
    """The ``count`` worst failures of a pair: the highest ranks, the lowest margin first
    among equal ranks.

    Parameters
    ----------
    queries : pandas.DataFrame
        A pair's queries (:func:`pair_queries`).
    count : int
        How many at most.

    Returns
    -------
    pandas.DataFrame
        The failures (rank above 1), worst first.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.report_html import worst_failures
    >>> queries = pd.DataFrame({"id": ["a", "b", "c", "d"], "rank": [1.0, 3.0, 3.0, 2.0],
    ...                         "margin": [0.2, -0.1, -0.4, -0.3]})
    >>> worst_failures(queries, 2)["id"].tolist()
    ['c', 'b']
    """
    failures = queries[queries["rank"] > 1]
    keys = ["rank", "margin"] if "margin" in failures.columns else ["rank"]
    ascending = [False, True][: len(keys)]
    return failures.sort_values(keys, ascending=ascending, kind="stable").head(count)


class AudioLinks:
    """Where a page finds each utterance's audio: the file itself, or a copy in the run's
    folder (``copy_audio``), each copied once per run.

    Parameters
    ----------
    run : RunFolder
        The run being written (copies are listed among its files).
    copy : bool, default False
        Copy each audio file into ``audio/`` of the run's folder.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.report_html import AudioLinks
    >>> from seqsim.run_folder import RunFolder
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     sound = Path(folder) / "en s1.wav"
    ...     _ = sound.write_bytes(b"RIFF")
    ...     with RunFolder(Path(folder) / "report").writing() as run:
    ...         linked = AudioLinks(run).target("en/s1", {"path": str(sound)})
    ...         copied = AudioLinks(run, copy=True).target("en/s1", {"path": str(sound)})
    ...     print(linked == sound, copied.relative_to(run.folder).as_posix())
    True audio/en%2Fs1.wav
    """

    def __init__(self, run: RunFolder, copy: bool = False) -> None:
        self.run = run
        self.copy = copy
        self.missing: list[str] = []
        self._copies: dict[str, Path] = {}

    def target(self, key: str, media: Mapping[str, str]) -> Path | None:
        """The audio file of ``key`` that a page links to; None without one (a path that is
        not a file is counted in :attr:`missing`)."""
        if "path" not in media:
            return None
        source = Path(media["path"])
        if not source.is_file():
            if key not in self.missing:
                self.missing.append(key)
            return None
        if not self.copy:
            return source
        if key not in self._copies:
            name = f"{AUDIO_FOLDER}/{quote(key, safe='')}{source.suffix}"
            copy = self.run.file(name)
            shutil.copyfile(source, copy)
            self._copies[key] = copy
        return self._copies[key]


def link(target: Path, page_folder: Path) -> str:
    """A URL of ``target`` relative to a page in ``page_folder`` (absolute where no relative
    path exists, another drive on Windows).

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.report_html import link
    >>> link(Path("/corpus/en/s 1#2.wav"), Path("/runs/report"))
    '../../corpus/en/s%201%232.wav'
    """
    try:
        relative = os.path.relpath(target.absolute(), page_folder.absolute())
    except ValueError:
        return target.absolute().as_uri()
    return quote(Path(relative).as_posix())


def render_pictures(
    result: RetrievalResult,
    store: str | Path,
    count: int,
    run: RunFolder,
    folder: str,
) -> dict[tuple[str, str, str], Path]:
    """The pair picture (:func:`seqsim.pair.plot_pair`) of the ``count`` worst failures of
    each language pair: the query (up) against its top wrong candidate (across).

    Parameters
    ----------
    result : RetrievalResult
        A result with ranks and scores.
    store : str or Path
        The embedding store that holds the result's frames (its model and layer).
    count : int
        Failures per pair.
    run : RunFolder
        The run being written.
    folder : str
        The result's folder in the run (``""`` for the run's folder); the pictures go to its
        ``pairs/QUERY-CANDIDATE/`` as JPEG at :data:`PICTURE_DPI` and
        :data:`PICTURE_QUALITY`.

    Returns
    -------
    dict of (str, str, str) to Path
        Each picture, by (query_lang, candidate_lang, query id).

    Raises
    ------
    HtmlReportError
        Where the store holds no frames of the result's model, or lacks an utterance of it.
    ~seqsim.store.StoreError
        Where the store lacks the result's layer or is damaged (naming it).
    """
    from .pair import pair_similarity, plot_pair
    from .store import EmbeddingStore

    store_path = Path(store)
    settings = result.settings
    stored = EmbeddingStore(store_path).settings
    if stored is None or stored.get("model") != settings.get("model"):
        raise HtmlReportError(
            f"{store_path}: holds no frames of {settings.get('model')!r} (the result's model) "
            "to draw pair pictures from"
        )
    keys, frames = EmbeddingStore(store_path).load(int(settings["layer"]))
    position = {key: number for number, key in enumerate(keys)}
    frame_seconds = float(settings.get("frame_seconds") or 0.02)
    prefix = f"{folder}/" if folder else ""
    pictures = {}
    for (query_lang, candidate_lang), queries in pair_queries(result).items():
        if "wrong" not in queries.columns:
            continue
        named = queries[[_named(wrong) for wrong in queries["wrong"]]]
        for query in worst_failures(named, count).itertuples():
            names = (_key(query_lang, query.id), _key(candidate_lang, query.wrong))
            absent = [name for name in names if name not in position]
            if absent:
                raise HtmlReportError(f"{store_path}: holds no frames of {absent[0]}")
            a, b = (np.asarray(frames[position[name]], dtype=np.float32) for name in names)
            figure = plot_pair(
                pair_similarity(a, b),
                label_a=names[0],
                label_b=f"{names[1]} (top wrong)",
                title=f"{settings.get('model')}, layer {settings['layer']}: rank {query.rank:g}",
                frame_seconds=frame_seconds,
            )
            folder_name = f"{prefix}{PICTURE_FOLDER}/{query_lang}-{candidate_lang}"
            path = run.file(f"{folder_name}/{quote(str(query.id), safe='')}.jpg")
            figure.savefig(
                path,
                format="jpg",
                dpi=PICTURE_DPI,
                pil_kwargs={"quality": PICTURE_QUALITY, "optimize": True},
            )
            pictures[(query_lang, candidate_lang, str(query.id))] = path
    return pictures


def html_page(
    views: Sequence[PageView],
    comparisons: Sequence[ComparisonRow],
    page_folder: Path,
    audio: AudioLinks,
    notes: Sequence[str] = (),
    max_queries: int | None = None,
) -> str:
    """The page: every view's matrix (a selector where there are several), the comparisons,
    and the data of each pair's queries for the page's script.

    A run of more than ``max_queries`` queries over its results and pairs lists an equal
    share of them per pair (:func:`listed_queries`), and says so at the top of the page and
    of each pair shortened.

    Parameters
    ----------
    views : sequence of PageView
        The results, the first shown first.
    comparisons : sequence of ComparisonRow
        The paired tests between them (none for one result).
    page_folder : Path
        Where the page is written: links to audio and pictures are relative to it.
    audio : AudioLinks
        Where the audio is.
    notes : sequence of str
        Lines under the title (what the page lacks, what the pictures cost).
    max_queries : int, optional
        Query rows the page lists at most; :data:`PAGE_QUERIES` when left out.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> import tempfile
    >>> from seqsim.report_html import AudioLinks, PageView, html_page
    >>> from seqsim.result import RetrievalResult
    >>> from seqsim.run_folder import RunFolder
    >>> matrix = pd.DataFrame([[float("nan"), 50.0], [100.0, float("nan")]],
    ...                       index=["en", "fr"], columns=["en", "fr"])
    >>> result = RetrievalResult(["en", "fr"], pd.DataFrame(), pd.DataFrame())
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with RunFolder(folder).writing() as run:
    ...         view = PageView("toy", result, matrix, ["N = 2"])
    ...         page = html_page([view], [], run.folder, AudioLinks(run))
    >>> 'data-query-lang="en" data-candidate-lang="fr" data-value="50.0"' in page
    True
    """
    media = _MediaTable(audio, page_folder)
    pairs = [pair_queries(view.result) for view in views]
    total = sum(len(queries) for view_pairs in pairs for queries in view_pairs.values())
    count = sum(len(view_pairs) for view_pairs in pairs)
    budget = PAGE_QUERIES if max_queries is None else max_queries
    limit = total if total <= budget else max(1, budget // count)
    data = {
        "views": [
            {"label": view.label, "pairs": _pairs_data(view, queries, media, page_folder, limit)}
            for view, queries in zip(views, pairs, strict=True)
        ],
        "media": media.rows,
    }
    if limit < total:
        notes = [
            *notes,
            f"This run ranks {total:,} queries; the page lists at most {limit:,} per language "
            "pair, the failures first (worst first), then hits. ranks.csv lists every query.",
        ]
    if media.rows and not any(row["audio"] for row in media.rows) and not audio.missing:
        notes = [
            *notes,
            "No players: the results record no audio files of their utterances (a result "
            "evaluated from a store alone, or written before seqsim recorded them).",
        ]
    if audio is not None and audio.missing:
        notes = [
            *notes,
            f"{len(audio.missing)} audio file(s) were not found when the report was written "
            f"(e.g. {audio.missing[0]}); their players are left out.",
        ]
    body = "\n".join(
        [
            _header(views),
            *(f'<p class="note">{html.escape(note)}</p>' for note in notes),
            *(_view_section(number, view) for number, view in enumerate(views)),
            _comparisons_section(comparisons),
            _pair_section(),
        ]
    )
    title = "Retrieval report" + (f": {views[0].label}" if len(views) == 1 else "")
    page = _template()
    for place, value in zip(_PLACES, (html.escape(title), body, _script_json(data)), strict=True):
        page = page.replace(place, value)
    return page


def _template() -> str:
    """The page's template: its styles and script, with places for the title, body and
    data."""
    return resources.files("seqsim").joinpath("templates", PAGE_FILE).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """``data`` as JSON that cannot end its ``<script>`` element early."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _key(lang: str, utterance_id: str) -> str:
    """The store key of an utterance (:attr:`Utterance.key <seqsim.corpus.Utterance.key>`)."""
    return Utterance(str(utterance_id), lang, None).key


class _MediaTable:
    """The utterances the page's rows refer to, each once: its key, text and audio URL."""

    def __init__(self, audio: AudioLinks, page_folder: Path) -> None:
        self.audio = audio
        self.page_folder = page_folder
        self.rows: list[dict[str, str | None]] = []
        self._index: dict[str, int] = {}

    def index(self, key: str, utterances: Mapping[str, Mapping[str, str]]) -> int:
        """The row of ``key``, added on first use."""
        if key not in self._index:
            media = utterances.get(key, {})
            target = self.audio.target(key, media)
            self._index[key] = len(self.rows)
            self.rows.append(
                {
                    "key": key,
                    "text": media.get("text"),
                    "audio": link(target, self.page_folder) if target else None,
                }
            )
        return self._index[key]


def _named(value: Any) -> bool:
    """Whether a ``wrong`` cell names a candidate (a search whose hits were all correct
    names none: None in memory, an empty cell read back)."""
    return isinstance(value, str) and value != ""


def _rounded(values: pd.Series) -> list[float | None]:
    """Scores for the page: :data:`SCORE_DIGITS` decimals, None where not finite."""
    return [round(float(v), SCORE_DIGITS) if math.isfinite(v) else None for v in values]


def _pairs_data(
    view: PageView,
    pairs: Mapping[tuple[str, str], pd.DataFrame],
    media: _MediaTable,
    page_folder: Path,
    limit: int,
) -> dict[str, Any]:
    """The page's data of each pair's queries (``pairs``, at most ``limit`` listed), by
    ``QUERY\\tCANDIDATE``: columns of values, indices into the media table, and ``total``
    where the list is shortened."""
    utterances = view.result.utterances
    data = {}
    for (query_lang, candidate_lang), every in pairs.items():
        queries = listed_queries(every, limit)
        ids = [str(i) for i in queries["id"]]
        column: dict[str, Any] = {
            "id": ids,
            "rank": [int(r) if math.isfinite(r) else None for r in queries["rank"]],
            "query": [media.index(_key(query_lang, i), utterances) for i in ids],
            "correct": [
                media.index(_key(candidate_lang, c), utterances) for c in queries["correct"]
            ],
        }
        if "score" in queries.columns:
            column.update({name: _rounded(queries[name]) for name in ("score", "top", "margin")})
            column["wrong"] = [
                media.index(_key(candidate_lang, w), utterances) if _named(w) else None
                for w in queries["wrong"]
            ]
        pictures = [view.pictures.get((query_lang, candidate_lang, i)) for i in ids]
        if any(pictures):
            column["picture"] = [link(p, page_folder) if p else None for p in pictures]
        if len(queries) < len(every):
            column["total"] = len(every)
        data[f"{query_lang}\t{candidate_lang}"] = column
    return data


def _header(views: Sequence[PageView]) -> str:
    """The title and, for several results, the selector between their matrices."""
    parts = ["<h1>Retrieval report</h1>"]
    if len(views) > 1:
        options = "".join(
            f'<option value="{number}">{html.escape(view.label)}</option>'
            for number, view in enumerate(views)
        )
        parts.append(
            f'<p class="controls"><label>Matrix <select id="view-select">{options}</select>'
            "</label></p>"
        )
    parts.append(
        '<p class="note">R@1 (%): query language (rows) against candidate language (columns). '
        "Click a cell to list that pair's queries and listen to them.</p>"
    )
    return "\n".join(parts)


_VIRIDIS = colormaps["viridis"]


def _cell(query_lang: str, candidate_lang: str, value: float, interval: str) -> str:
    """A matrix cell: the value on the heatmap's colour (0 to 100 %), and its interval."""
    if math.isnan(value):
        return '<td class="diagonal">—</td>'
    colour = to_hex(_VIRIDIS(value / 100))
    ink = "#fff" if value < 60 else "#000"
    shown = f"{value:.1f}"
    return (
        f'<td class="cell" tabindex="0" data-query-lang="{html.escape(query_lang)}" '
        f'data-candidate-lang="{html.escape(candidate_lang)}" data-value="{shown}" '
        f'style="background:{colour};color:{ink}">{shown}{interval}</td>'
    )


def _view_section(number: int, view: PageView) -> str:
    """One result: its title, facts and matrix."""
    matrix = view.matrix
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in matrix.columns)
    rows = []
    for query_lang in matrix.index:
        cells = []
        for candidate_lang in matrix.columns:
            value = float(matrix.loc[query_lang, candidate_lang])
            interval = ""
            if view.intervals is not None and not math.isnan(value):
                low, high = (float(b.loc[query_lang, candidate_lang]) for b in view.intervals)
                interval = f"<small>[{low:.1f}, {high:.1f}]</small>"
            cells.append(_cell(str(query_lang), str(candidate_lang), value, interval))
        rows.append(f"<tr><th>{html.escape(str(query_lang))}</th>{''.join(cells)}</tr>")
    facts = "".join(f"<span>{html.escape(fact)}</span>" for fact in view.facts)
    return (
        f'<section class="view" data-view="{number}">\n'
        f"<h2>{html.escape(view.label)}</h2>\n"
        f'<p class="facts">{facts}</p>\n'
        f'<table class="matrix"><tr><th>query \\ candidate</th>{header}</tr>\n'
        + "\n".join(rows)
        + "\n</table>\n</section>"
    )


def _comparisons_section(comparisons: Sequence[ComparisonRow]) -> str:
    """The paired tests, one row per compared pair of results (nothing for none)."""
    if not comparisons:
        return ""
    rows = []
    for row in comparisons:
        test = row.comparison
        cells = [
            html.escape(row.first),
            html.escape(row.second),
            str(test.queries),
            f"{100 * test.difference:+.1f}",
            f"[{100 * test.low:+.1f}, {100 * test.high:+.1f}]",
            f"{test.p_bootstrap:.3g}",
            f"{test.only_first} / {test.only_second}",
            f"{test.p_mcnemar:.3g}",
        ]
        rows.append(
            "<tr>"
            + "".join(
                f'<td class="number">{c}</td>' if n > 1 else f"<td>{c}</td>"
                for n, c in enumerate(cells)
            )
            + "</tr>"
        )
    return (
        '<section id="significance">\n<h2>Paired tests</h2>\n'
        '<p class="note">Mean R@1 of the first less the second, in percentage points, with a '
        "95 % paired bootstrap interval over sentences and its p-value; the queries only one "
        "of them gets right, and McNemar's exact test on them.</p>\n"
        '<table class="grid"><tr><th>first</th><th>second</th><th>queries</th>'
        "<th>Δ mean R@1 (pp)</th><th>95 % interval</th><th>p (bootstrap)</th>"
        "<th>only first / only second</th><th>p (McNemar)</th></tr>\n"
        + "\n".join(rows)
        + "\n</table>\n</section>"
    )


def _pair_section() -> str:
    """The panel that lists a clicked pair's queries (filled by the page's script)."""
    return (
        '<section id="pair" hidden>\n<h2 id="pair-title"></h2>\n<p class="controls">'
        '<label><input type="checkbox" id="failures-only"> failures only</label>'
        '<label>sort by <select id="sort-by"><option value="order">corpus order</option>'
        '<option value="rank">rank (worst first)</option>'
        '<option value="margin">margin (worst first)</option></select></label>'
        '<span id="pair-shown" class="note"></span></p>\n'
        '<table class="grid" id="queries"><thead><tr><th>query</th><th>rank</th>'
        "<th>correct score</th><th>top score</th><th>margin</th><th>text</th>"
        "<th>query audio</th><th>correct translation</th><th>top wrong candidate</th>"
        "<th>picture</th></tr></thead><tbody></tbody></table>\n"
        '<p class="note">Margin: the correct candidate\'s score less the best wrong '
        "candidate's; negative for a failure. The scores are those ranked (after any "
        "normalisation).</p>\n</section>"
    )
