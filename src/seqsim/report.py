"""Reports of retrieval results: CSV, JSON and markdown files, a heatmap of the R@1 matrix
(query languages as rows), a metric-comparison table, a layer-ablation plot, the paired tests
between the results of a run (:mod:`seqsim.significance`) and ``report.html``, the page to see
and hear why retrieval fails (:mod:`seqsim.report_html`).

Figures are built on :class:`matplotlib.figure.Figure` directly: importing this module leaves
matplotlib's backend (a notebook's, say) as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._defaults import DEFAULT_PICTURE_FORMAT
from .checks import check_choice, check_count
from .pair import PICTURE_FORMATS, picture_format
from .report_html import (
    PAGE_FILE,
    PICTURE_FOLDER,
    AudioLinks,
    ComparisonRow,
    PageView,
    html_page,
    render_pictures,
)
from .result import RetrievalResult
from .run_folder import MARKDOWN_FILE, MATRIX_FILE, RANKS_FILE, RESULTS_FILE, RunFolder
from .search.retrieval import POOLED
from .significance import SIGNIFICANCE_SAMPLES, ResultSignificance, result_significance

FigureFormat = Literal["png", "svg", "pdf"]
DIGITS = 1
"""Decimals of the percentages in ``r_at_1.csv``, ``report.md``, the heatmap and the terminal,
so that they all show the same numbers (``results.json`` keeps the full values)."""
NOT_APPLICABLE = "—"
"""What a cell that has no value shows: the diagonal (a language against itself)."""


def save_figure(figure: Figure, path: str | Path, format: FigureFormat | None = None) -> Path:
    """Write ``figure`` to ``path`` as PNG, SVG or PDF.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure.
    path : str or Path
        The file (replaced where it exists).
    format : {"png", "svg", "pdf"}, optional
        The format; by default the one ``path``'s suffix names.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        For a format, or a suffix (without ``format``), that is not png, svg or pdf.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from matplotlib.figure import Figure
    >>> from seqsim.report import save_figure
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_figure(Figure(), Path(folder) / "empty.svg")
    ...     print(path.read_text()[:5])
    <?xml
    """
    path = Path(path)
    if format is None:
        format = picture_format(path)  # type: ignore[assignment]
    else:
        check_choice("figure format", format, PICTURE_FORMATS)
    figure.savefig(path, format=format, dpi=120)
    return path


def markdown_table(frame: pd.DataFrame, digits: int = 1) -> str:
    """A markdown pipe table of ``frame``; NaN shows as an em dash (the diagonal of a
    language matrix).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; its index becomes the first column (headed by the index's name).
    digits : int, default 1
        Decimals of float cells.

    Returns
    -------
    str
        The table, one line per row, without a trailing newline.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.report import markdown_table
    >>> frame = pd.DataFrame({"en": [float("nan"), 87.5], "fr": [75.0, float("nan")]},
    ...                      index=pd.Index(["en", "fr"], name="query"))
    >>> print(markdown_table(frame))
    | query | en | fr |
    |---|---|---|
    | en | — | 75.0 |
    | fr | 87.5 | — |
    """

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "—" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    header = [frame.index.name or ""] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([str(index)] + [cell(v) for v in row]) + " |")
    return "\n".join(lines)


def plot_heatmap(
    matrix: pd.DataFrame,
    path: str | Path | None = None,
    title: str = "",
    *,
    note: str | None = None,
    intervals: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    ax: Axes | None = None,
    format: FigureFormat | None = None,
) -> Figure:
    """A heatmap of a language-pair matrix in percent, values written in the cells.

    Query languages are the rows, candidate languages the columns; the colour scale runs
    from 0 to 100. Each cell shows its value with one decimal (as ``r_at_1.csv`` and
    ``report.md`` do) and, with ``intervals``, the interval below it; a cell without value
    (the diagonal: a language against itself) shows an em dash on grey.

    Parameters
    ----------
    matrix : pandas.DataFrame
        The matrix in percent (as :meth:`RetrievalResult.matrix
        <seqsim.result.RetrievalResult.matrix>` gives it).
    path : str or Path, optional
        Where to write the figure (:func:`save_figure`); not written without one.
    title : str, default ""
        The plot's title.
    note : str, optional
        A line under the plot, e.g. the number of sentences, chance level and settings hash.
    intervals : (pandas.DataFrame, pandas.DataFrame), optional
        Low and high bounds of every cell, in percent (bootstrap intervals).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (of a figure of yours) instead of a new figure.
    format : {"png", "svg", "pdf"}, optional
        The file format; by default the one ``path``'s suffix names.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into.

    Raises
    ------
    ValueError
        For a figure format that is not png, svg or pdf.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.report import plot_heatmap
    >>> matrix = pd.DataFrame({"en": [float("nan"), 87.5], "fr": [27.5, float("nan")]},
    ...                       index=["en", "fr"])
    >>> figure = plot_heatmap(matrix, title="R@1 (%)", note="2 sentences")
    >>> sorted(text.get_text() for text in figure.axes[0].texts)
    ['27.5', '87.5', '—', '—']
    """
    values = matrix.to_numpy(dtype=float)
    size = max(4.0, 0.9 * len(matrix.columns) + 2)
    if ax is None:
        figure = Figure(figsize=(size, size * 0.85 + (0.3 if note else 0)))
        ax = figure.add_subplot()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    colormap = colormaps["viridis"].with_extremes(bad="lightgrey")  # a copy
    image = ax.imshow(values, cmap=colormap, vmin=0, vmax=100)
    ax.set_xticks(range(len(matrix.columns)), [str(c) for c in matrix.columns])
    ax.set_yticks(range(len(matrix.index)), [str(i) for i in matrix.index])
    ax.set_xlabel("candidate language")
    ax.set_ylabel("query language")
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if math.isnan(value):
                ax.text(j, i, NOT_APPLICABLE, ha="center", va="center", color="dimgrey")
                continue
            text = f"{value:.{DIGITS}f}"
            color = "white" if value < 60 else "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=9)
            if intervals is not None:
                low, high = (float(bound.iloc[i, j]) for bound in intervals)
                ax.text(
                    j,
                    i + 0.3,
                    f"[{low:.{DIGITS}f}, {high:.{DIGITS}f}]",
                    ha="center",
                    va="center",
                    color=color,
                    fontsize=6,
                )
    figure.colorbar(image, ax=ax, label="R@1 (%)")
    ax.set_title(title, fontsize=10)
    if note:
        figure.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=7)
    figure.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    if path is not None:
        save_figure(figure, path, format)
    return figure


def write_report(
    result: RetrievalResult,
    out: str | Path,
    figure_format: FigureFormat = DEFAULT_PICTURE_FORMAT,
    *,
    overwrite: bool = False,
    copy_audio: bool = False,
    pictures: int = 0,
    store: str | Path | None = None,
) -> dict[str, Path]:
    """Write ``r_at_1.csv``, ``results.json``, ``ranks.csv``, ``heatmap.png``, ``report.md``
    and ``report.html``.

    - ``r_at_1.csv``: the R@1 matrix in percent (rows: query language, columns: candidate
      language), rounded to one decimal, as the heatmap and ``report.md`` show it.
    - ``results.json``: :meth:`RetrievalResult.to_dict
      <seqsim.result.RetrievalResult.to_dict>` (schema version, units, every pair's
      measures as fractions, their means, the settings and their hash, the failures);
      :meth:`RetrievalResult.load <seqsim.result.RetrievalResult.load>` reads the folder
      back.
    - ``ranks.csv``: every query's rank and top hit, the correct candidate's score and the
      best wrong candidate with its score.
    - ``heatmap.png`` (or ``.svg``, ``.pdf``): :func:`result_heatmap`.
    - ``report.md``: :func:`report_markdown`.
    - ``report.html``: the page of :mod:`seqsim.report_html`: the matrix, each pair's queries
      with their audio (linked relative to the page, or copied into ``audio/``), and the pair
      pictures of the worst failures where asked. It works from ``file://``, offline.

    ``results.json`` and ``report.md`` also hold the mean R@1 with a bootstrap interval over
    sentences (:func:`~seqsim.significance.result_significance`), where the result has ranks.

    Parameters
    ----------
    result : RetrievalResult
        What :func:`seqsim.evaluation.evaluate` returned.
    out : str or Path
        The folder, created where missing. It holds this run's report only (see
        :mod:`seqsim.run_folder`): its files are listed in ``seqsim-run.json``, and a folder
        that holds another run's report is refused.
    figure_format : {"png", "svg", "pdf"}, default "png"
        The heatmap's format.
    overwrite : bool, default False
        Replace the report of another run in ``out``: the files it listed are removed first
        (and nothing else of the folder).
    copy_audio : bool, default False
        Copy the audio of every listed utterance into ``out/audio/``, so that the report
        moves with its sound; by default the page links to the audio where it lies.
    pictures : int, default 0
        Draw the pair picture (:func:`seqsim.pair.plot_pair`) of this many worst failures of
        each language pair (the query against its top wrong candidate) into ``pairs/``; each
        costs about 30 kB (a JPEG of 480 x 420 pixels). Needs ``store``.
    store : str or Path, optional
        The embedding store that holds the result's frames, for ``pictures``.

    Returns
    -------
    dict of str to Path
        The path of each file the result's report consists of, by name (copied audio and
        pictures are listed in the run's record).

    Raises
    ------
    OSError
        If the folder or a file cannot be written.
    ValueError
        For a figure format that is not png, svg or pdf, a negative ``pictures`` or
        ``pictures`` without a ``store``;
        :class:`~seqsim.run_folder.ReportFolderError` where ``out`` holds another run's
        report and ``overwrite`` is False; :class:`~seqsim.report_html.HtmlReportError` for
        a store without the result's frames.

    Examples
    --------
    Two sentences with orthogonal frames, the same in both languages: R@1 is 100 %.

    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import RetrievalResult, evaluate_embeddings
    >>> from seqsim.report import write_report
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> ids = ["s1", "s2"]
    >>> result = evaluate_embeddings({"en": (ids, frames), "fr": (ids, frames)})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     files = write_report(result, folder, figure_format="svg")
    ...     print(sorted(files))
    ...     print(files["r_at_1.csv"].read_text(), end="")
    ...     print(RetrievalResult.load(folder) == result)
    ['heatmap.svg', 'r_at_1.csv', 'ranks.csv', 'report.html', 'report.md', 'results.json']
    query,en,fr
    en,,100.0
    fr,100.0,
    True
    """
    check_choice("figure format", figure_format, PICTURE_FORMATS)  # before any file is written
    _check_page_options(pictures, store)
    with RunFolder(out, overwrite=overwrite).writing() as run:
        pages = _Pages(AudioLinks(run, copy_audio), pictures, store)
        return _write_result(result, run, "", figure_format, pages).files


@dataclass
class _Pages:
    """What the pages of a run share: where their audio is, and the pair pictures asked."""

    audio: AudioLinks
    pictures: int = 0
    store: str | Path | None = None


@dataclass
class _Written:
    """One result's report: its files, its view on a page and its tests."""

    files: dict[str, Path]
    view: PageView
    significance: ResultSignificance | None


def _check_page_options(pictures: int, store: str | Path | None) -> None:
    """A count of pictures, and a store to draw them from."""
    check_count("pictures", pictures, 0)
    if pictures and store is None:
        raise ValueError(
            f"pictures={pictures} draws the worst failures from their frames: give the store "
            "that holds them (store=)"
        )


def _write_result(
    result: RetrievalResult,
    run: RunFolder,
    prefix: str,
    figure_format: FigureFormat,
    pages: _Pages,
    others: Mapping[str, RetrievalResult] | None = None,
) -> _Written:
    """One result's files in ``run``'s folder under ``prefix``, tested against ``others``
    (by name); ``results.json`` last, so that a folder with it holds the others too."""
    heatmap = f"heatmap.{figure_format}"
    names = (MATRIX_FILE, RANKS_FILE, heatmap, MARKDOWN_FILE, PAGE_FILE, RESULTS_FILE)
    files = {name: run.file(prefix + name) for name in names}
    significance = result_significance(result, others, SIGNIFICANCE_SAMPLES)
    result.matrix("r@1").round(DIGITS).to_csv(files[MATRIX_FILE])
    result.ranks.to_csv(files[RANKS_FILE], index=False)
    save_figure(result_heatmap(result), files[heatmap], figure_format)
    files[MARKDOWN_FILE].write_text(report_markdown(result, significance))
    view = _page_view(result, significance, pages, run, prefix)
    rows = [
        ComparisonRow(view.label, name, comparison)
        for name, comparison in (significance.comparisons.items() if significance else [])
    ]
    page = html_page([view], rows, files[PAGE_FILE].parent, pages.audio, _picture_notes([view]))
    files[PAGE_FILE].write_text(page, encoding="utf-8")
    data = result.to_dict()
    if significance is not None:
        data["significance"] = significance.to_dict()
    files[RESULTS_FILE].write_text(json.dumps(data, indent=2, default=str))
    return _Written(files, view, significance)


def result_label(result: RetrievalResult) -> str:
    """How reports name a result: its metric, model and layer.

    Parameters
    ----------
    result : RetrievalResult
        A result.

    Returns
    -------
    str
        ``METRIC, MODEL layer L`` from its settings.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.report import result_label
    >>> from seqsim.result import RetrievalResult
    >>> settings = {"metric": "seqsim", "model": "whisper-base", "layer": 6}
    >>> result_label(RetrievalResult(["en", "fr"], pd.DataFrame(), pd.DataFrame(), settings))
    'seqsim, whisper-base layer 6'
    """
    settings = result.settings
    return f"{settings.get('metric')}, {settings.get('model')} layer {settings.get('layer')}"


def _page_view(
    result: RetrievalResult,
    significance: ResultSignificance | None,
    pages: _Pages,
    run: RunFolder,
    prefix: str,
    label: str | None = None,
) -> PageView:
    """The result as the pages show it (named ``label``, else :func:`result_label`), its pair
    pictures drawn where asked."""
    facts = [_corpus_line(result).rstrip(".")]
    if significance is not None:
        mean = significance.mean_r1
        facts.append(
            f"mean R@1 {100 * mean.value:.{DIGITS}f} % (95 % bootstrap interval over sentences "
            f"{100 * mean.low:.{DIGITS}f}–{100 * mean.high:.{DIGITS}f})"
        )
    if _has_intervals(result):
        facts.append(f"[cell: 95 % bootstrap interval, {result.settings.get('bootstrap')} samples]")
    facts.append(f"settings {result.settings_hash}")
    pictures = {}
    if pages.pictures and pages.store is not None:
        pictures = render_pictures(result, pages.store, pages.pictures, run, prefix.rstrip("/"))
    return PageView(
        label or result_label(result),
        result,
        result.matrix("r@1").round(DIGITS),
        facts,
        _intervals(result),
        pictures,
    )


def _picture_notes(views: list[PageView]) -> list[str]:
    """What the pair pictures of the page cost on disk, where it has any."""
    paths = {path for view in views for path in view.pictures.values()}
    if not paths:
        return []
    size = sum(path.stat().st_size for path in paths)
    return [
        f"Pair pictures of the worst failures: {len(paths)}, {size / 1e3:.0f} kB in "
        f"{PICTURE_FOLDER}/ ({size / len(paths) / 1e3:.0f} kB each); open one from a query's "
        "row."
    ]


@dataclass
class GridReport:
    """What :func:`write_reports` wrote.

    Parameters
    ----------
    folder : pathlib.Path
        The report folder.
    folders : dict of (str, int) to pathlib.Path
        Each result's folder, by its key (``folder`` itself for a single result).
    comparisons : dict of int to pandas.DataFrame
        Per encoder layer (hidden-state index), :func:`metric_comparison` of its metrics
        (with several metrics).
    ablations : dict of str to pandas.DataFrame
        Per metric, :func:`layer_ablation` over its layers (with several layers).
    files : list of pathlib.Path
        Every file written.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.report import GridReport
    >>> GridReport(Path("report"), {("seqsim", 6): Path("report")}).comparisons
    {}
    """

    folder: Path
    folders: dict[tuple[str, int], Path]
    comparisons: dict[int, pd.DataFrame] = field(default_factory=dict)
    ablations: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def result_folder_name(metric: str, layer: int) -> str:
    """The folder of one (metric, layer) result of a grid report.

    Parameters
    ----------
    metric : str
        The metric's name.
    layer : int
        The hidden-state index (not negative).

    Returns
    -------
    str
        ``METRIC_layerL``.

    Examples
    --------
    >>> from seqsim.report import result_folder_name
    >>> result_folder_name("seqsim", 6)
    'seqsim_layer6'
    """
    return f"{metric}_layer{layer}"


def write_reports(
    results: Mapping[tuple[str, int], RetrievalResult],
    out: str | Path,
    figure_format: FigureFormat = DEFAULT_PICTURE_FORMAT,
    *,
    overwrite: bool = False,
    copy_audio: bool = False,
    pictures: int = 0,
    store: str | Path | None = None,
) -> GridReport:
    """The reports of an :func:`~seqsim.evaluation.evaluate_grid` run, in one folder.

    One result: its report (:func:`write_report`) in ``out``. Several: one report per
    (metric, layer) in ``out/METRIC_layerL``, and in ``out`` for every layer with several
    metrics ``metric_comparison_layerL.csv`` and ``.md`` (:func:`metric_comparison`), for
    every metric with several layers ``layer_ablation_METRIC.csv`` and its plot
    (:func:`layer_ablation`, :func:`plot_layer_ablation`), and ``report.html`` with every
    result's matrix, a selector between them and the paired tests
    (:func:`~seqsim.significance.compare_results`) of each two results of one layer or one
    metric (also in each result's ``report.md`` and ``results.json``). The folder holds this
    run only, as :func:`write_report` says.

    Parameters
    ----------
    results : mapping of (str, int) to RetrievalResult
        What :func:`~seqsim.evaluation.evaluate_grid` returned: results keyed by (metric
        name, layer).
    out : str or Path
        The report folder.
    figure_format : {"png", "svg", "pdf"}, default "png"
        The format of the heatmaps and layer plots.
    overwrite : bool, default False
        Replace the report of another run in ``out`` (see :func:`write_report`).
    copy_audio, pictures, store
        The audio and pair pictures of the pages, as :func:`write_report` takes them.

    Returns
    -------
    GridReport
        The folders, the comparison and ablation tables, and every file written.

    Raises
    ------
    ValueError
        For no results, a bad figure format, bad ``pictures`` (as :func:`write_report`
        says), or a folder that holds another run's report
        (:class:`~seqsim.run_folder.ReportFolderError`) without ``overwrite``.
    OSError
        If a file cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.report import write_reports
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> embeddings = {"en": (["s1", "s2"], frames), "fr": (["s1", "s2"], frames)}
    >>> results = {(name, 0): evaluate_embeddings(embeddings, name, settings={"layer": 0})
    ...            for name in ("seqsim", "avgsim")}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     report = write_reports(results, folder, "svg")
    ...     names = sorted(str(path.relative_to(folder)) for path in report.files)
    >>> names[:2], len(names)
    (['avgsim_layer0/heatmap.svg', 'avgsim_layer0/r_at_1.csv'], 15)
    >>> report.comparisons[0]["mean"].tolist()
    [100.0, 100.0]
    """
    check_choice("figure format", figure_format, PICTURE_FORMATS)
    _check_page_options(pictures, store)
    if not results:
        raise ValueError("no results to report")
    with RunFolder(out, overwrite=overwrite).writing() as run:
        return write_grid(
            results,
            run,
            figure_format=figure_format,
            copy_audio=copy_audio,
            pictures=pictures,
            store=store,
        )


def write_grid(
    results: Mapping[tuple[str, int], RetrievalResult],
    run: RunFolder,
    folder: str = "",
    figure_format: FigureFormat = DEFAULT_PICTURE_FORMAT,
    *,
    copy_audio: bool = False,
    pictures: int = 0,
    store: str | Path | None = None,
) -> GridReport:
    """The files of :func:`write_reports`, written into a run's folder or a subfolder of it:
    where one run reports on several grids (one per model, say).

    Parameters
    ----------
    results : mapping of (str, int) to RetrievalResult
        Results keyed by (metric name, layer), as :func:`~seqsim.evaluation.evaluate_grid`
        returns them (at least one).
    run : RunFolder
        The run being written (:meth:`RunFolder.writing <seqsim.run_folder.RunFolder.writing>`),
        which lists every file.
    folder : str, default ""
        The subfolder of the run's folder to write into (``/`` between folders); the run's
        folder itself by default.
    figure_format : {"png", "svg", "pdf"}, default "png"
        The format of the heatmaps and layer plots.
    copy_audio, pictures, store
        The audio and pair pictures of the pages, as :func:`write_report` takes them.

    Returns
    -------
    GridReport
        As :func:`write_reports` returns it, ``folder`` the subfolder.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.report import write_grid
    >>> from seqsim.run_folder import RunFolder, read_run_record
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> result = evaluate_embeddings({"en": (["s1", "s2"], frames), "fr": (["s1", "s2"], frames)})
    >>> with tempfile.TemporaryDirectory() as out:
    ...     with RunFolder(out).writing() as run:
    ...         report = write_grid({("seqsim", 0): result}, run, "model-a", "svg")
    ...     listed = read_run_record(out)["files"]
    >>> report.folder.name, listed[0]
    ('model-a', 'model-a/r_at_1.csv')
    """
    _check_page_options(pictures, store)
    prefix = f"{folder}/" if folder else ""
    metrics = list(dict.fromkeys(metric for metric, _ in results))
    layers = list(dict.fromkeys(layer for _, layer in results))
    report = GridReport(run.folder / folder, {})
    pages = _Pages(AudioLinks(run, copy_audio), pictures, store)
    names = (
        {key: result_folder_name(key[0], _layer_of(result)) for key, result in results.items()}
        if len(results) > 1
        else {key: "" for key in results}
    )
    written = {}
    for key, result in results.items():
        inner = names[key]
        others = {names[other]: results[other] for other in _compared_with(key, results)}
        written[key] = _write_result(
            result, run, f"{prefix}{inner}/" if inner else prefix, figure_format, pages, others
        )
        report.folders[key] = report.folder / inner
        report.files += written[key].files.values()
    if len(results) > 1:
        report.files.append(_write_grid_page(written, names, run, prefix, pages))
    if len(metrics) > 1:
        for layer in layers:
            hidden_state = _layer_of(results[(metrics[0], layer)])
            table = metric_comparison({m: results[(m, layer)] for m in metrics})
            name = f"{prefix}metric_comparison_layer{hidden_state}"
            table.round(2).to_csv(csv := run.file(f"{name}.csv"))
            (markdown := run.file(f"{name}.md")).write_text(markdown_table(table) + "\n")
            report.comparisons[hidden_state] = table
            report.files += [csv, markdown]
    if len(layers) > 1:
        for metric in metrics:
            by_layer = {
                _layer_of(results[(metric, layer)]): results[(metric, layer)] for layer in layers
            }
            table = layer_ablation(by_layer)
            table.round(2).to_csv(csv := run.file(f"{prefix}layer_ablation_{metric}.csv"))
            plot = run.file(f"{prefix}layer_ablation_{metric}.{figure_format}")
            chance = 100 * next(iter(by_layer.values())).mean("chance")
            plot_layer_ablation(
                table, plot, f"{metric}: mean R@1 by layer", chance=chance, format=figure_format
            )
            report.ablations[metric] = table
            report.files += [csv, plot]
    return report


def _compared_with(
    key: tuple[str, int], results: Mapping[tuple[str, int], RetrievalResult]
) -> list[tuple[str, int]]:
    """The results a grid's result is tested against: the other metrics of its layer and the
    other layers of its metric."""
    return [
        other for other in results if other != key and (other[0] == key[0] or other[1] == key[1])
    ]


def _write_grid_page(
    written: Mapping[tuple[str, int], _Written],
    names: Mapping[tuple[str, int], str],
    run: RunFolder,
    prefix: str,
    pages: _Pages,
) -> Path:
    """The page of every result of a grid, a selector between them, and each compared pair
    of them once."""
    views = [report.view for report in written.values()]
    rows = _comparison_rows(
        [(names[key], report.view.label, report.significance) for key, report in written.items()]
    )
    path = run.file(prefix + PAGE_FILE)
    page = html_page(views, rows, path.parent, pages.audio, _picture_notes(views))
    path.write_text(page, encoding="utf-8")
    return path


def _comparison_rows(
    results: Sequence[tuple[str, str, ResultSignificance | None]],
) -> list[ComparisonRow]:
    """Each compared pair of ``results`` (name, label on the page, tests) once, in order."""
    rows = []
    for number, (_, label, significance) in enumerate(results):
        for name, other_label, _ in results[number + 1 :]:
            if significance is not None and name in significance.comparisons:
                rows.append(ComparisonRow(label, other_label, significance.comparisons[name]))
    return rows


def write_comparison_page(
    results: Mapping[str, RetrievalResult],
    significance: Mapping[str, ResultSignificance | None],
    run: RunFolder,
    *,
    copy_audio: bool = False,
) -> Path:
    """``report.html`` at the top of a run's folder, over results reported elsewhere in it
    (one per model, say): a selector between their matrices, each pair's queries with
    their audio, and the paired tests of each two results once.

    Parameters
    ----------
    results : mapping of str to RetrievalResult
        The results, by the name the tests know them by and the page shows; the first is
        shown first.
    significance : mapping of str to ResultSignificance or None
        Each result's tests (:func:`~seqsim.significance.result_significance`), against the
        others by their names.
    run : RunFolder
        The run being written.
    copy_audio : bool, default False
        Copy the audio into the run's folder (once per run: where the results' own pages
        copied it, this page links the copies).

    Returns
    -------
    pathlib.Path
        The page.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.report import write_comparison_page
    >>> from seqsim.run_folder import RunFolder
    >>> from seqsim.significance import result_significance
    >>> same = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> swapped = PackedSequences.from_lengths(np.eye(4, dtype=np.float32)[[2, 3, 0, 1]], [2, 2])
    >>> ids = ["s1", "s2"]
    >>> results = {"good": evaluate_embeddings({"en": (ids, same), "fr": (ids, same)}),
    ...            "bad": evaluate_embeddings({"en": (ids, same), "fr": (ids, swapped)})}
    >>> tests = {name: result_significance(result, {o: r for o, r in results.items() if o != name})
    ...          for name, result in results.items()}
    >>> with tempfile.TemporaryDirectory() as out:
    ...     with RunFolder(out).writing() as run:
    ...         page = write_comparison_page(results, tests, run)
    ...     text = page.read_text()
    >>> page.name, text.count('data-query-lang="en"'), "McNemar" in text
    ('report.html', 2, True)
    """
    pages = _Pages(AudioLinks(run, copy_audio))
    views = [
        _page_view(result, significance[name], pages, run, "", label=name)
        for name, result in results.items()
    ]
    rows = _comparison_rows(
        [(name, view.label, significance[name]) for name, view in zip(results, views, strict=True)]
    )
    path = run.file(PAGE_FILE)
    path.write_text(html_page(views, rows, path.parent, pages.audio), encoding="utf-8")
    return path


def _layer_of(result: RetrievalResult) -> int:
    """The hidden-state index a result was computed on (as its settings record it)."""
    return int(result.settings["layer"])


def result_heatmap(result: RetrievalResult, ax: Axes | None = None) -> Figure:
    """:func:`plot_heatmap` of a result's R@1 matrix, with its bootstrap intervals (where it
    has them), and the number of sentences, chance level and settings hash under it.

    Parameters
    ----------
    result : RetrievalResult
        What :func:`seqsim.evaluation.evaluate` returned.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.report import result_heatmap
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> result = evaluate_embeddings({"en": (["s1", "s2"], frames), "fr": (["s1", "s2"], frames)})
    >>> figure = result_heatmap(result)
    >>> figure.texts[0].get_text()  # doctest: +ELLIPSIS
    'N = 2 sentences per language, chance 50.0 %, settings ...'
    """
    title = f"R@1 (%): {result_label(result)}"
    chance = 100 * float(result.summary["chance"].mean())
    note = (
        f"N = {_sentences(result)} sentences per language, chance {chance:.{DIGITS}f} %, "
        f"settings {result.settings_hash}"
    )
    if _has_intervals(result):
        note += ", [95 % bootstrap interval]"
    return plot_heatmap(
        result.matrix("r@1").round(DIGITS),
        title=title,
        note=note,
        intervals=_intervals(result),
        ax=ax,
    )


def _has_intervals(result: RetrievalResult) -> bool:
    return "ci_low" in result.summary.columns


def _intervals(result: RetrievalResult) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The R@1 bootstrap bounds in percent, where the result has them."""
    if not _has_intervals(result):
        return None
    return result.matrix("ci_low"), result.matrix("ci_high")


def interval_table(result: RetrievalResult) -> pd.DataFrame:
    """The R@1 bootstrap intervals as a matrix of ``low–high`` texts, in percent.

    Parameters
    ----------
    result : RetrievalResult
        A result evaluated with ``bootstrap`` samples (``ci_low``, ``ci_high`` columns).

    Returns
    -------
    pandas.DataFrame
        Query languages as rows, candidate languages as columns; the diagonal an em dash.

    Raises
    ------
    KeyError
        For a result without bootstrap intervals.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.evaluation import RetrievalResult
    >>> from seqsim.report import interval_table, markdown_table
    >>> summary = pd.DataFrame({"query_lang": ["en", "fr"], "candidate_lang": ["fr", "en"],
    ...                         "ci_low": [0.5, 0.25], "ci_high": [1.0, 0.75]})
    >>> print(markdown_table(interval_table(RetrievalResult(["en", "fr"], summary,
    ...                                                       pd.DataFrame()))))
    | query | en | fr |
    |---|---|---|
    | en | — | 50.0–100.0 |
    | fr | 25.0–75.0 | — |
    """
    low, high = result.matrix("ci_low"), result.matrix("ci_high")
    table = low.copy().astype(object)
    for q in low.index:
        for c in low.columns:
            a, b = float(low.loc[q, c]), float(high.loc[q, c])
            table.loc[q, c] = NOT_APPLICABLE if math.isnan(a) else f"{a:.{DIGITS}f}–{b:.{DIGITS}f}"
    return table


def _sentences(result: RetrievalResult) -> int:
    return int(result.settings.get("sentences", int(result.summary["n"].iloc[0])))


def _corpus_line(result: RetrievalResult) -> str:
    """Sentences (and recordings, for a multi-positive run) per language and the chance level:
    the mean over language pairs of each pair's chance (1/N with one recording per sentence)."""
    settings = result.settings
    sentences = _sentences(result)
    chance = 100 * float(result.summary["chance"].mean())
    if not settings.get("multi_positive"):
        return f"{sentences} sentences per language, chance level {chance:.1f} %."
    recordings = ", ".join(
        f"{lang} {count}" for lang, count in settings["recordings_per_language"].items()
    )
    return (
        f"{sentences} sentences, several recordings each (recordings: {recordings}); any "
        f"recording of the query's sentence is a hit; chance level {chance:.1f} % "
        "(mean over pairs)."
    )


def report_markdown(result: RetrievalResult, significance: ResultSignificance | None = None) -> str:
    """The report as markdown: R@1 matrix, means of every measure, and the settings.

    Sections, in order: the title (metric and settings hash) with the number of sentences
    and chance level; the R@1 matrix; its bootstrap intervals (where the result has them,
    :func:`interval_table`); the R@1 matrix without normalisation (where a
    normalisation or centring was used); the means of R@1, R@5, R@10 and MRR over language
    pairs; the mean R@1's interval and the paired tests against other results (with
    ``significance``); :func:`search_summary` (a result of ``search="index"``); the solver's
    diagnostics (where the metric reported any); the skipped utterances (where audio
    failed); the settings as JSON.

    Parameters
    ----------
    result : RetrievalResult
        What :func:`seqsim.evaluation.evaluate` returned.
    significance : ResultSignificance, optional
        Its tests (:func:`~seqsim.significance.result_significance`).

    Returns
    -------
    str
        The markdown text, ending in a newline.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.report import report_markdown
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> ids = ["s1", "s2"]
    >>> result = evaluate_embeddings({"en": (ids, frames), "fr": (ids, frames)})
    >>> text = report_markdown(result)
    >>> print(text[text.index("2 sentences"):text.index("## Means")])  # doctest: +ELLIPSIS
    2 sentences per language, chance level 50.0 %.
    <BLANKLINE>
    ## R@1 (%): query language (rows) against candidate language (columns)
    <BLANKLINE>
    | query | en | fr |
    |---|---|---|
    | en | — | 100.0 |
    | fr | 100.0 | — |
    <BLANKLINE>
    <BLANKLINE>
    """
    s = result.settings
    parts = [
        f"# Retrieval report ({s.get('metric')}, settings {result.settings_hash})",
        _corpus_line(result),
        "## R@1 (%): query language (rows) against candidate language (columns)",
        markdown_table(result.matrix("r@1")),
    ]
    if _has_intervals(result):
        parts += [
            f"## R@1 (%): 95 % bootstrap interval ({s.get('bootstrap')} samples, seed "
            f"{s.get('seed')})",
            markdown_table(interval_table(result)),
        ]
    if s.get("normalization") != "none" or s.get("center"):
        parts += ["## R@1 (%) without normalisation", markdown_table(result.matrix("raw_r@1"))]
    means = pd.DataFrame(
        {"mean over pairs (%)": [100 * result.mean(m) for m in ("r@1", "r@5", "r@10", "mrr")]},
        index=pd.Index(["R@1", "R@5", "R@10", "MRR"], name="measure"),
    )
    parts += ["## Means", markdown_table(means)]
    if significance is not None:
        parts += ["## Significance", significance_markdown(significance)]
    if s.get("search") == "index":
        parts += ["## Search through the index", search_summary(result)]
    if result.diagnostics:
        counts = ", ".join(f"{name} {count:,}" for name, count in result.diagnostics.items())
        parts += ["## Solver diagnostics", f"{counts} (also in results.json)."]
    if result.failures:
        parts += [
            "## Skipped utterances",
            "Their audio failed, so their sentences were left out in every language:",
            "\n".join(f"- `{f['key']}`: {f['reason']}" for f in result.failures),
        ]
    parts += [
        "## Settings",
        "```json",
        json.dumps(s, indent=2, default=str),
        "```",
    ]
    return "\n\n".join(parts) + "\n"


def significance_markdown(significance: ResultSignificance) -> str:
    """A result's mean R@1 interval and its paired tests, as markdown.

    Parameters
    ----------
    significance : ResultSignificance
        What :func:`~seqsim.significance.result_significance` returned.

    Returns
    -------
    str
        A line with the mean R@1 and its interval, and a table of the comparisons (where
        there are any), without a trailing newline.

    Examples
    --------
    >>> from seqsim.report import significance_markdown
    >>> from seqsim.significance import Comparison, Interval, ResultSignificance
    >>> test = Comparison(8, 0.5, 0.25, 0.75, 0.004, 4, 0, 0.125)
    >>> text = significance_markdown(ResultSignificance(Interval(0.75, 0.5, 1.0),
    ...                                                 {"avgsim_layer6": test}, 1000, 0, 0.95))
    >>> print(text.splitlines()[0])
    Mean R@1 75.0 %, 95 % bootstrap interval over sentences 50.0–100.0 (1000 samples, seed 0).
    >>> print(text.splitlines()[-1])
    | avgsim_layer6 | 8 | +50.0 | +25.0–+75.0 | 0.004 | 4 | 0 | 0.125 |
    """
    mean = significance.mean_r1
    lines = [
        f"Mean R@1 {100 * mean.value:.{DIGITS}f} %, 95 % bootstrap interval over sentences "
        f"{100 * mean.low:.{DIGITS}f}–{100 * mean.high:.{DIGITS}f} ({significance.samples} "
        f"samples, seed {significance.seed})."
    ]
    if significance.comparisons:
        table = pd.DataFrame(
            {
                "queries": [c.queries for c in significance.comparisons.values()],
                "Δ mean R@1 (pp)": [
                    f"{100 * c.difference:+.1f}" for c in significance.comparisons.values()
                ],
                "95 % interval": [
                    f"{100 * c.low:+.1f}–{100 * c.high:+.1f}"
                    for c in significance.comparisons.values()
                ],
                "p (bootstrap)": [
                    f"{c.p_bootstrap:.3g}" for c in significance.comparisons.values()
                ],
                "only this": [c.only_first for c in significance.comparisons.values()],
                "only other": [c.only_second for c in significance.comparisons.values()],
                "p (McNemar)": [f"{c.p_mcnemar:.3g}" for c in significance.comparisons.values()],
            },
            index=pd.Index(list(significance.comparisons), name="compared with"),
        )
        lines += [
            "Against the other results of the run (this one first): the difference of mean\n"
            "R@1 in percentage points with its paired bootstrap interval and p-value, the\n"
            "queries only one of the two gets right, and McNemar's exact test on them.",
            markdown_table(table),
        ]
    return "\n\n".join(lines)


def metric_comparison(results: Mapping[str, RetrievalResult], measure: str = "r@1") -> pd.DataFrame:
    """Metrics as rows, ordered language pairs (``q→c``) and their mean as columns, in percent.

    Parameters
    ----------
    results : mapping of str to RetrievalResult
        One result per metric name, over the same languages.
    measure : str, default "r@1"
        The measure compared (a column of ``RetrievalResult.summary``: ``"r@1"``, ``"r@5"``,
        ``"r@10"``, ``"mrr"``, ...).

    Returns
    -------
    pandas.DataFrame
        Index ``metric``; one column per language pair of the results (pooled rows of an
        index search included), and ``mean`` over the language pairs (pooled rows left out).

    Raises
    ------
    KeyError
        If ``measure`` is not a column of the summaries.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.report import metric_comparison
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> ids = ["s1", "s2"]
    >>> results = {name: evaluate_embeddings({"en": (ids, frames), "fr": (ids, frames)}, name)
    ...            for name in ("seqsim", "avgsim")}
    >>> metric_comparison(results)
            en→fr  fr→en   mean
    metric
    seqsim  100.0  100.0  100.0
    avgsim  100.0  100.0  100.0
    """
    rows = {}
    for name, result in results.items():
        summary = result.summary
        values = {
            f"{q}→{c}": 100 * v
            for q, c, v in zip(
                summary["query_lang"], summary["candidate_lang"], summary[measure], strict=True
            )
        }
        values["mean"] = 100 * result.mean(measure)
        rows[name] = values
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "metric"
    return table


def layer_ablation(results: Mapping[int, RetrievalResult], measure: str = "r@1") -> pd.DataFrame:
    """Mean ``measure`` (percent) over language pairs for each encoder layer.

    Parameters
    ----------
    results : mapping of int to RetrievalResult
        One result per encoder layer (hidden-state index).
    measure : str, default "r@1"
        The measure averaged (``"r@1"``, ``"r@5"``, ``"r@10"``, ``"mrr"``, ...).

    Returns
    -------
    pandas.DataFrame
        Index ``layer`` (ascending), one column ``mean {measure} (%)``.

    Raises
    ------
    KeyError
        If ``measure`` is not a column of the summaries.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.report import layer_ablation
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> ids = ["s1", "s2"]
    >>> result = evaluate_embeddings({"en": (ids, frames), "fr": (ids, frames)})
    >>> layer_ablation({6: result, 4: result})
           mean r@1 (%)
    layer
    4             100.0
    6             100.0
    """
    table = pd.DataFrame(
        {
            "layer": list(results),
            f"mean {measure} (%)": [100 * r.mean(measure) for r in results.values()],
        }
    )
    return table.set_index("layer").sort_index()


def plot_layer_ablation(
    table: pd.DataFrame,
    path: str | Path | None = None,
    title: str = "",
    *,
    chance: float | None = None,
    ax: Axes | None = None,
    format: FigureFormat | None = None,
) -> Figure:
    """A line plot of a layer-ablation table: its first column against encoder layer.

    Parameters
    ----------
    table : pandas.DataFrame
        What :func:`layer_ablation` returned (index: layer).
    path : str or Path, optional
        Where to write the figure (:func:`save_figure`); not written without one.
    title : str, default ""
        The plot's title.
    chance : float, optional
        The chance level, in the table's unit (percent): drawn as a dashed line.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    format : {"png", "svg", "pdf"}, optional
        The file format; by default the one ``path``'s suffix names.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into.

    Raises
    ------
    ValueError
        For a figure format that is not png, svg or pdf.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.report import plot_layer_ablation
    >>> table = pd.DataFrame({"mean r@1 (%)": [20.0, 35.0]}, index=pd.Index([4, 6], name="layer"))
    >>> figure = plot_layer_ablation(table, title="R@1 by layer", chance=2.5)
    >>> [float(line.get_ydata()[0]) for line in figure.axes[0].get_lines()]
    [20.0, 2.5]
    """
    if ax is None:
        figure = Figure(figsize=(5, 3.5))
        ax = figure.add_subplot()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    ax.plot(table.index, table.iloc[:, 0], marker="o")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance {chance:.1f}")
        ax.legend(fontsize=8)
    ax.set_xlabel("encoder layer (hidden-state index)")
    ax.set_ylabel(str(table.columns[0]))
    ax.set_xticks(list(table.index))
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    figure.tight_layout()
    if path is not None:
        save_figure(figure, path, format)
    return figure


def search_summary(result: RetrievalResult) -> str:
    """R@1 among all other languages pooled, per query language, and the index's agreement
    with exhaustive search (a result of ``search="index"``).

    Parameters
    ----------
    result : RetrievalResult
        A result of ``evaluate(..., search=SearchOptions("index"))`` (its summary has pooled
        rows and agreement columns).

    Returns
    -------
    str
        Markdown bullets: one per query language (R@1 and R@10 against every other language
        pooled), then the agreement, a mean over all searched rows (each language pair, and
        each pooled row), with what it was measured on: the queries (each query language's
        sample, or all its queries, counted once; every row of that language searches the
        same ones), the searches (those queries summed over the rows) and the rows.

    Raises
    ------
    KeyError
        If ``result`` was not searched through an index (no agreement columns).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.evaluation_options import SearchOptions
    >>> from seqsim.report import search_summary
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> ids = ["s1", "s2"]
    >>> result = evaluate_embeddings({"en": (ids, frames), "fr": (ids, frames)},
    ...                              search=SearchOptions("index", candidates=1))
    >>> print(search_summary(result))  # doctest: +NORMALIZE_WHITESPACE
    - en -> every other language pooled: R@1 100.0 %, R@10 100.0 %
    - fr -> every other language pooled: R@1 100.0 %, R@10 100.0 %
    - agreement with exhaustive search (shortlist 1): top-1 100.0 %, exhaustive top-1 in the
      top 10 100.0 % (4 queries, 8 searches in 4 rows)
    """
    summary = result.summary
    pooled = summary[summary["candidate_lang"] == POOLED]
    # every row of a query language measures the same queries (one seeded sample of them)
    queries = int(summary.groupby("query_lang")["agreement_queries"].max().sum())
    searches = int(summary["agreement_queries"].sum())
    lines = [
        f"- {row['query_lang']} -> every other language pooled: R@1 {100 * row['r@1']:.1f} %, "
        f"R@10 {100 * row['r@10']:.1f} %"
        for _, row in pooled.iterrows()
    ]
    lines.append(
        f"- agreement with exhaustive search (shortlist {result.settings.get('candidates')}): "
        f"top-1 {100 * summary['agreement_r@1'].mean():.1f} %, exhaustive top-1 in the top 10 "
        f"{100 * summary['agreement_r@10'].mean():.1f} % "
        f"({queries} queries, {searches} searches in {len(summary)} rows)"
    )
    return "\n".join(lines)
