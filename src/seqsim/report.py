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
    """A pipe table; NaN shows as an em dash (the diagonal of a language matrix)."""

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
    """A heatmap of a language-pair matrix in percent, values written in the cells."""
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
    """Write ``r_at_1.csv``, ``results.json``, ``ranks.csv``, ``heatmap.png`` and ``report.md``."""
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


def report_markdown(result: RetrievalResult) -> str:
    """The report as markdown: R@1 matrix, means of every measure, and the settings."""
    s = result.settings
    n = int(result.summary["n"].iloc[0])
    parts = [
        f"# Retrieval report ({s.get('metric')}, settings {result.settings_hash})",
        f"{n} sentences per language, chance level {100 / n:.1f} %.",
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
    """Metrics as rows, ordered language pairs (``q→c``) and their mean as columns, in percent."""
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
    """Mean ``measure`` (percent) over language pairs for each encoder layer."""
    table = pd.DataFrame(
        {
            "layer": list(results),
            f"mean {measure} (%)": [100 * r.mean(measure) for r in results.values()],
        }
    )
    return table.set_index("layer").sort_index()


def plot_layer_ablation(table: pd.DataFrame, path: Path, title: str) -> Path:
    """R@1 against encoder layer."""
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
    with exhaustive search (a result of ``search="index"``)."""
    summary = result.summary
    pooled = summary[summary["candidate_lang"] == POOLED]
    lines = [
        f"- {row['query_lang']} -> every other language pooled: R@1 {100 * row['r@1']:.1f} %, "
        f"R@10 {100 * row['r@10']:.1f} %"
        for _, row in pooled.iterrows()
    ]
    lines.append(
        f"- agreement with exhaustive search (shortlist {result.settings.get('candidates')}): "
        f"top-1 {100 * summary['agreement_r@1'].mean():.1f} %, exhaustive top-1 in the top 10 "
        f"{100 * summary['agreement_r@10'].mean():.1f} % "
        f"({int(summary['agreement_queries'].sum())} queries)"
    )
    return "\n".join(lines)
