"""Reports of retrieval results: CSV, JSON and markdown files, a heatmap of the R@1 matrix
(query languages as rows), a metric-comparison table and a layer-ablation plot."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .evaluation import RetrievalResult  # noqa: E402
from .search.retrieval import POOLED  # noqa: E402


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


def plot_heatmap(matrix: pd.DataFrame, path: Path, title: str) -> Path:
    """A heatmap of a language-pair matrix in percent, values written in the cells.

    Query languages are the rows, candidate languages the columns; the colour scale runs
    from 0 to 100 and NaN cells (the diagonal) are left blank.

    Parameters
    ----------
    matrix : pandas.DataFrame
        The matrix in percent (as :meth:`RetrievalResult.matrix
        <seqsim.evaluation.RetrievalResult.matrix>` gives it).
    path : Path
        The image file to write (PNG by its suffix; replaced where it exists).
    title : str
        The plot's title.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from seqsim.report import plot_heatmap
    >>> matrix = pd.DataFrame({"en": [float("nan"), 87.5], "fr": [75.0, float("nan")]},
    ...                       index=["en", "fr"])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_heatmap(matrix, Path(folder) / "heatmap.png", "R@1 (%)")
    ...     print(path.name, path.stat().st_size > 0)
    heatmap.png True
    """
    size = max(4.0, 0.9 * len(matrix.columns) + 2)
    figure, axes = plt.subplots(figsize=(size, size * 0.85))
    image = axes.imshow(matrix.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=100)
    axes.set_xticks(range(len(matrix.columns)), matrix.columns)
    axes.set_yticks(range(len(matrix.index)), matrix.index)
    axes.set_xlabel("candidate language")
    axes.set_ylabel("query language")
    for i, row in enumerate(matrix.to_numpy(dtype=float)):
        for j, value in enumerate(row):
            if not math.isnan(value):
                color = "white" if value < 60 else "black"
                axes.text(j, i, f"{value:.0f}", ha="center", va="center", color=color, fontsize=9)
    figure.colorbar(image, ax=axes, label="R@1 (%)")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_report(result: RetrievalResult, out: str | Path) -> dict[str, Path]:
    """Write ``r_at_1.csv``, ``results.json``, ``ranks.csv``, ``heatmap.png`` and ``report.md``.

    - ``r_at_1.csv``: the R@1 matrix in percent (rows: query language, columns: candidate
      language), rounded to 2 decimals.
    - ``results.json``: :meth:`RetrievalResult.to_dict
      <seqsim.evaluation.RetrievalResult.to_dict>` (every pair's measures, their means, the
      settings and their hash, the failures).
    - ``ranks.csv``: every query's rank and top hit.
    - ``heatmap.png``: :func:`plot_heatmap` of the R@1 matrix.
    - ``report.md``: :func:`report_markdown`.

    Parameters
    ----------
    result : RetrievalResult
        What :func:`seqsim.evaluation.evaluate` returned.
    out : str or Path
        The folder (created where missing); files in it of these names are replaced.

    Returns
    -------
    dict of str to Path
        The path of each file, by name.

    Raises
    ------
    OSError
        If the folder or a file cannot be written.

    Examples
    --------
    Two sentences with orthogonal frames, the same in both languages: R@1 is 100 %.

    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.report import write_report
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> ids = ["s1", "s2"]
    >>> result = evaluate_embeddings({"en": (ids, frames), "fr": (ids, frames)})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     files = write_report(result, folder)
    ...     print(sorted(files))
    ...     print(files["r_at_1.csv"].read_text(), end="")
    ['heatmap.png', 'r_at_1.csv', 'ranks.csv', 'report.md', 'results.json']
    query,en,fr
    en,,100.0
    fr,100.0,
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r_at_1 = result.matrix("r@1")
    files = {
        "r_at_1.csv": out / "r_at_1.csv",
        "results.json": out / "results.json",
        "ranks.csv": out / "ranks.csv",
        "heatmap.png": out / "heatmap.png",
        "report.md": out / "report.md",
    }
    r_at_1.round(2).to_csv(files["r_at_1.csv"])
    files["results.json"].write_text(json.dumps(result.to_dict(), indent=2, default=str))
    result.ranks.to_csv(files["ranks.csv"], index=False)
    settings = result.settings
    title = (
        f"R@1 (%): {settings.get('metric')}, {settings.get('model')} layer {settings.get('layer')}"
    )
    plot_heatmap(r_at_1, files["heatmap.png"], title)
    files["report.md"].write_text(report_markdown(result))
    return files


def _corpus_line(result: RetrievalResult) -> str:
    """Sentences (and recordings, for a multi-positive run) per language and the chance level:
    the mean over language pairs of each pair's chance (1/N with one recording per sentence)."""
    settings = result.settings
    sentences = settings.get("sentences", int(result.summary["n"].iloc[0]))
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


def report_markdown(result: RetrievalResult) -> str:
    """The report as markdown: R@1 matrix, means of every measure, and the settings.

    Sections, in order: the title (metric and settings hash) with the number of sentences
    and chance level; the R@1 matrix; the R@1 matrix without normalisation (where a
    normalisation or centring was used); the means of R@1, R@5, R@10 and MRR over language
    pairs; :func:`search_summary` (a result of ``search="index"``); the solver's diagnostics
    (where the metric reported any); the skipped utterances (where audio failed); the
    settings as JSON.

    Parameters
    ----------
    result : RetrievalResult
        What :func:`seqsim.evaluation.evaluate` returned.

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
    if s.get("normalization") != "none" or s.get("center"):
        parts += ["## R@1 (%) without normalisation", markdown_table(result.matrix("raw_r@1"))]
    means = pd.DataFrame(
        {"mean over pairs (%)": [100 * result.mean(m) for m in ("r@1", "r@5", "r@10", "mrr")]},
        index=pd.Index(["R@1", "R@5", "R@10", "MRR"], name="measure"),
    )
    parts += ["## Means", markdown_table(means)]
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


def plot_layer_ablation(table: pd.DataFrame, path: Path, title: str) -> Path:
    """A line plot of a layer-ablation table: its first column against encoder layer.

    Parameters
    ----------
    table : pandas.DataFrame
        What :func:`layer_ablation` returned (index: layer).
    path : Path
        The image file to write (PNG by its suffix; replaced where it exists).
    title : str
        The plot's title.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from seqsim.report import plot_layer_ablation
    >>> table = pd.DataFrame({"mean r@1 (%)": [20.0, 35.0]}, index=pd.Index([4, 6], name="layer"))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_layer_ablation(table, Path(folder) / "layers.png", "R@1 by layer")
    ...     print(path.name, path.stat().st_size > 0)
    layers.png True
    """
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.plot(table.index, table.iloc[:, 0], marker="o")
    axes.set_xlabel("encoder layer (hidden-state index)")
    axes.set_ylabel(table.columns[0])
    axes.set_xticks(list(table.index))
    axes.grid(alpha=0.3)
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def search_summary(result: RetrievalResult) -> str:
    """R@1 among all other languages pooled, per query language, and the index's agreement
    with exhaustive search (a result of ``search="index"``).

    Parameters
    ----------
    result : RetrievalResult
        A result of ``evaluate(..., search="index")`` (its summary has pooled rows and
        agreement columns).

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
    >>> from seqsim.report import search_summary
    >>> frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> ids = ["s1", "s2"]
    >>> result = evaluate_embeddings({"en": (ids, frames), "fr": (ids, frames)},
    ...                              search="index", candidates=1)
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
