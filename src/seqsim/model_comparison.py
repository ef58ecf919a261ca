"""Several encoders on one corpus, compared in one report: the study's Table 6 (R@1 by model
and language pair) and its picture.

:func:`compare_models` evaluates every model with :func:`~seqsim.evaluation.evaluate_grid`
(each into a store of its own, so that an interrupted run resumes every model) and returns a
:class:`ModelComparison`: each model's results, the table, the picture, and
:meth:`ModelComparison.write`, which writes one report folder (the comparison at the top, each
model's full report in a subfolder named by :func:`model_slug`).

The comparison is over one metric and one layer: the first of those given (the others are in
each model's own report, as its metric comparison and layer ablation).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._defaults import DEFAULT_LAYER, DEFAULT_METRIC, DEFAULT_PICTURE_FORMAT, PICTURE_FORMATS
from .checks import check_choice, refuse_unknown
from .corpus import Corpus
from .encoders import EncoderInfo, EncoderSpec, encoder_spec
from .evaluation import evaluate_grid, layer_states
from .metrics.base import Metric
from .report import (
    DIGITS,
    FigureFormat,
    GridReport,
    markdown_table,
    metric_comparison,
    save_figure,
    significance_markdown,
    write_comparison_page,
    write_grid,
)
from .result import RetrievalResult
from .run_folder import RunFolder
from .significance import (
    SIGNIFICANCE_SAMPLES,
    ResultSignificance,
    query_hits,
    result_significance,
)

COMPARISON_FILE = "model_comparison"
"""The stem of the comparison's files in the report folder: ``.csv``, ``.md``, ``.json`` and
the picture."""
SLUG_DIGITS = 8
"""Hex digits of the model's digest that end its slug (:func:`model_slug`)."""
SLUG_NAME_LENGTH = 40
"""Characters of the model's name kept at most at the start of its slug."""
LEGEND_COLUMNS = 3
"""Entries per row of the comparison picture's legend."""
MEAN_ROW = "mean"
"""The table's last row: the mean over language pairs."""

Stores = str | Path | Callable[[str], str | Path] | None
"""Where each model's store is: a folder holding one per model (``FOLDER/<slug>``), a function
of the model's slug that gives it, or None for temporary stores."""


class ModelComparisonError(ValueError):
    """Models that cannot be compared as given: none, or one given twice.

    Examples
    --------
    >>> from seqsim.model_comparison import ModelComparisonError
    >>> issubclass(ModelComparisonError, ValueError)
    True
    """


@dataclass(frozen=True)
class ComparedModel:
    """One model of a comparison, as its report names it.

    Parameters
    ----------
    spec : EncoderSpec
        The encoder, as given.
    info : EncoderInfo
        Its family, identity (``info.model``, what its store records), layers and frame rate.
    label : str
        Its column in the table and its legend entry (:func:`model_labels`).
    slug : str
        The name of its report subfolder and its store (:func:`model_slug`).

    Examples
    --------
    >>> from seqsim.encoders import EncoderInfo, EncoderSpec
    >>> from seqsim.model_comparison import ComparedModel
    >>> info = EncoderInfo("whisper", "whisper-base-offline", 6, 0.02)
    >>> ComparedModel(EncoderSpec(info.model), info, "whisper-base-offline", "x").info.num_layers
    6
    """

    spec: EncoderSpec
    info: EncoderInfo
    label: str
    slug: str


def _identity(info: EncoderInfo) -> str:
    """What makes two models the same for a comparison: family, model and frame options."""
    return json.dumps([info.family, info.model, info.options], sort_keys=True, default=str)


def _name_parts(model: str) -> list[str]:
    """The parts of a model's name between slashes (a hub id's owner and name, a folder's
    path), empty ones left out."""
    return [part for part in re.split(r"[/\\]", model) if part] or [model]


def model_slug(info: EncoderInfo) -> str:
    """The name of a model's report subfolder and store: its name, safe as a folder name, and
    a digest of its identity, so that two models are never given the same one (two folders
    with the same last name included) and a model gets the same one in every run.

    Parameters
    ----------
    info : EncoderInfo
        The model's (:meth:`EncoderSpec.info <seqsim.encoders.EncoderSpec.info>`).

    Returns
    -------
    str
        The last part of the model's name (at most :data:`SLUG_NAME_LENGTH` characters;
        anything but letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``; no leading
        dot), ``-``, and the first :data:`SLUG_DIGITS` hex digits of the SHA-256 of its
        family, name and frame options.

    Examples
    --------
    >>> from seqsim.encoders import EncoderInfo
    >>> from seqsim.model_comparison import model_slug
    >>> a = model_slug(EncoderInfo("whisper", "/data/run1/model", 2, 0.02))
    >>> b = model_slug(EncoderInfo("whisper", "/data/run2/model", 2, 0.02))
    >>> a[:6], b[:6], a != b, len(a)
    ('model-', 'model-', True, 14)
    >>> model_slug(EncoderInfo("whisper", "in-memory:@sha256:00ff", 2, 0.02))[:-9]
    'in-memory_sha256_00ff'
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", _name_parts(info.model)[-1])
    name = name[:SLUG_NAME_LENGTH].lstrip(".") or "model"
    digest = hashlib.sha256(_identity(info).encode("utf-8")).hexdigest()[:SLUG_DIGITS]
    return f"{name}-{digest}"


def model_labels(infos: Sequence[EncoderInfo]) -> list[str]:
    """Short names that tell the models apart, for the table's columns and the legend: the
    fewest last parts of each model's name (between slashes) that differ among them, with the
    frame options of a model that has any.

    Parameters
    ----------
    infos : sequence of EncoderInfo
        The models, each once.

    Returns
    -------
    list of str
        One label per model, in order; ``FAMILY:NAME`` where no shorter ones differ.

    Examples
    --------
    >>> from seqsim.encoders import EncoderInfo
    >>> from seqsim.model_comparison import model_labels
    >>> model_labels([EncoderInfo("whisper", "openai/whisper-base", 6, 0.02),
    ...               EncoderInfo("whisper", "openai/whisper-small", 12, 0.02)])
    ['whisper-base', 'whisper-small']
    >>> model_labels([EncoderInfo("whisper", "/a/x/model", 2, 0.02),
    ...               EncoderInfo("whisper", "/b/y/model", 2, 0.02),
    ...               EncoderInfo("whisper", "/b/y/model", 2, 0.02, {"context": "audio"})])
    ['x/model', 'y/model', 'y/model (context=audio)']
    """
    parts = [_name_parts(info.model) for info in infos]
    options = [
        " (" + ", ".join(f"{key}={value}" for key, value in info.options.items()) + ")"
        if info.options
        else ""
        for info in infos
    ]
    for depth in range(1, max(map(len, parts), default=0) + 1):
        labels = ["/".join(p[-depth:]) + o for p, o in zip(parts, options, strict=True)]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{info.family}:{info.model}{o}" for info, o in zip(infos, options, strict=True)]


def compared_models(models: Sequence[Any], layers: Sequence[int]) -> list[ComparedModel]:
    """The models of a comparison, checked before anything is embedded: each can be read, has
    every layer asked for, and is given once.

    Parameters
    ----------
    models : sequence of str, EncoderSpec or models in memory
        What :func:`~seqsim.load_encoder` takes, each.
    layers : sequence of int
        The layers that every model is evaluated on (negative counts from the last).

    Returns
    -------
    list of ComparedModel
        The models, in order, with their labels and slugs.

    Raises
    ------
    ModelComparisonError
        For no model, or a model given twice (the same family, model and frame options).
    ValueError
        For a model that cannot be found, or a layer a model lacks (naming the model:
        :func:`~seqsim.evaluation.layer_states`).

    Examples
    --------
    >>> from seqsim.model_comparison import compared_models
    >>> [m.label for m in compared_models(["whisper-base-offline"], [-1])]
    ['whisper-base-offline']
    >>> compared_models(["whisper-base-offline"] * 2, [-1])
    Traceback (most recent call last):
        ...
    seqsim.model_comparison.ModelComparisonError: model 'whisper-base-offline' is given twice: \
compare each model once
    >>> compared_models(["whisper-base-offline"], [7])
    Traceback (most recent call last):
        ...
    ValueError: layer 7 does not exist: whisper-base-offline has hidden states 0..6 (or -7..-1)
    """
    if not models:
        raise ModelComparisonError("give at least one model to compare")
    specs = [encoder_spec(model) for model in models]
    infos: list[EncoderInfo] = []
    for spec in specs:
        info = spec.info()
        if any(_identity(info) == _identity(seen) for seen in infos):
            raise ModelComparisonError(
                f"model {info.model!r} is given twice: compare each model once"
            )
        layer_states(layers, info.num_layers + 1, info.model)
        infos.append(info)
    labels = model_labels(infos)
    return [
        ComparedModel(spec, info, label, model_slug(info))
        for spec, info, label in zip(specs, infos, labels, strict=True)
    ]


@dataclass
class ComparisonReport:
    """What :meth:`ModelComparison.write` wrote.

    Parameters
    ----------
    folder : pathlib.Path
        The report folder.
    models : dict of str to GridReport
        Each model's own report (in ``folder/<slug>``), by label.
    files : list of pathlib.Path
        Every file written: the comparison's, then the models'.

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.model_comparison import ComparisonReport
    >>> ComparisonReport(Path("report")).files
    []
    """

    folder: Path
    models: dict[str, GridReport] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


@dataclass
class ModelComparison:
    """Every model's results on one corpus, and their comparison (:func:`compare_models`).

    Parameters
    ----------
    models : list of ComparedModel
        The models, in the order given.
    results : dict of str to dict of (str, int) to RetrievalResult
        By model label, what :func:`~seqsim.evaluation.evaluate_grid` returned for it: results
        keyed by (metric name, layer as given).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim import PackedSequences
    >>> from seqsim.encoders import EncoderInfo, EncoderSpec
    >>> from seqsim.evaluation import evaluate_embeddings
    >>> from seqsim.model_comparison import ComparedModel, ModelComparison
    >>> same = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    >>> swapped = PackedSequences.from_lengths(np.eye(4, dtype=np.float32)[[2, 3, 0, 1]], [2, 2])
    >>> ids = ["s1", "s2"]
    >>> good = evaluate_embeddings({"en": (ids, same), "fr": (ids, same)})
    >>> bad = evaluate_embeddings({"en": (ids, same), "fr": (ids, swapped)})
    >>> models = [ComparedModel(EncoderSpec(n), EncoderInfo("toy", n, 1, 0.02), n, n)
    ...           for n in ("good", "bad")]
    >>> comparison = ModelComparison(models, {"good": {("seqsim", -1): good},
    ...                                       "bad": {("seqsim", -1): bad}})
    >>> comparison.table()
    model   good  bad
    pair
    en→fr  100.0  0.0
    fr→en  100.0  0.0
    mean   100.0  0.0
    """

    models: list[ComparedModel]
    results: dict[str, dict[tuple[str, int], RetrievalResult]]

    @property
    def metric(self) -> str:
        """The metric compared: the first of the run's."""
        return next(iter(self.results[self.models[0].label]))[0]

    @property
    def layer(self) -> int:
        """The layer compared, as given (``-1`` is each model's last): the first of the run's."""
        return next(iter(self.results[self.models[0].label]))[1]

    def compared(self) -> dict[str, RetrievalResult]:
        """Each model's result of the compared metric and layer, by label.

        Returns
        -------
        dict of str to RetrievalResult
        """
        key = (self.metric, self.layer)
        return {model.label: self.results[model.label][key] for model in self.models}

    def significance(
        self, samples: int = SIGNIFICANCE_SAMPLES
    ) -> dict[str, ResultSignificance | None]:
        """Each model's mean R@1 with its bootstrap interval, and its paired tests against
        every other model (:func:`~seqsim.significance.result_significance`), on the
        compared metric and layer.

        Two models are tested only where they rank the same queries; models whose embedding
        failed on different utterances are not, with a warning that names them.

        Parameters
        ----------
        samples : int, default 1000
            Bootstrap samples.

        Returns
        -------
        dict of str to ResultSignificance or None
            By model label; its comparisons are named by the other models' labels. None for
            a result without per-query ranks.

        Warns
        -----
        UserWarning
            For two models that rank different queries.

        Examples
        --------
        Two models of two sentences, one right on both and one wrong on both:

        >>> import numpy as np
        >>> from seqsim import PackedSequences
        >>> from seqsim.encoders import EncoderInfo, EncoderSpec
        >>> from seqsim.evaluation import evaluate_embeddings
        >>> from seqsim.model_comparison import ComparedModel, ModelComparison
        >>> same = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
        >>> swapped = PackedSequences.from_lengths(np.eye(4, dtype=np.float32)[[2, 3, 0, 1]],
        ...                                        [2, 2])
        >>> ids = ["s1", "s2"]
        >>> good = evaluate_embeddings({"en": (ids, same), "fr": (ids, same)})
        >>> bad = evaluate_embeddings({"en": (ids, same), "fr": (ids, swapped)})
        >>> models = [ComparedModel(EncoderSpec(n), EncoderInfo("toy", n, 1, 0.02), n, n)
        ...           for n in ("good", "bad")]
        >>> comparison = ModelComparison(models, {"good": {("seqsim", -1): good},
        ...                                       "bad": {("seqsim", -1): bad}})
        >>> tests = comparison.significance()
        >>> test = tests["good"].comparisons["bad"]
        >>> test.difference, test.only_first, test.only_second, test.p_mcnemar  # 2 * 0.5 ** 4
        (1.0, 4, 0, 0.125)
        """
        compared = self.compared()
        ranked = {label: result for label, result in compared.items() if not result.ranks.empty}
        queries = {label: query_hits(result).index for label, result in ranked.items()}
        paired: dict[str, dict[str, RetrievalResult]] = {label: {} for label in ranked}
        labels = list(ranked)
        for number, first in enumerate(labels):
            for second in labels[number + 1 :]:
                if queries[first].equals(queries[second]):
                    paired[first][second] = ranked[second]
                    paired[second][first] = ranked[first]
                else:
                    warnings.warn(
                        f"models {first!r} and {second!r} rank different queries (an "
                        "utterance failed for one of them): no paired test between them",
                        stacklevel=2,
                    )
        return {
            label: result_significance(result, paired[label], samples) if label in ranked else None
            for label, result in compared.items()
        }

    def table(self, measure: str = "r@1") -> pd.DataFrame:
        """``measure`` in percent by language pair (rows ``q→c``, then ``mean`` over them)
        and model (columns, by label): the study's Table 6.

        Parameters
        ----------
        measure : str, default "r@1"
            A measure of the results' summaries (``"r@1"``, ``"r@5"``, ``"r@10"``, ``"mrr"``).

        Returns
        -------
        pandas.DataFrame
            Index ``pair``, columns ``model``. The pooled rows of an index search are rows
            too, and left out of the mean (:meth:`RetrievalResult.mean
            <seqsim.result.RetrievalResult.mean>`).

        Raises
        ------
        KeyError
            If ``measure`` is not a column of the summaries.
        """
        table = metric_comparison(self.compared(), measure).T
        table.index.name, table.columns.name = "pair", "model"
        return table

    def plot(
        self,
        path: str | Path | None = None,
        *,
        measure: str = "r@1",
        ax: Axes | None = None,
        format: FigureFormat | None = None,
    ) -> Figure:
        """The table as grouped horizontal bars: one group per language pair (and the mean,
        last, below a line), one bar per model, the value written at its end, and the chance
        level dashed. The figure grows with the pairs and models, so that 20 pairs of 6
        models stay readable.

        Parameters
        ----------
        path : str or Path, optional
            Where to write it (:func:`~seqsim.report.save_figure`); not written without one.
        measure : str, default "r@1"
            The measure compared (:meth:`table`).
        ax : matplotlib.axes.Axes, optional
            Draw into these axes instead of a new figure.
        format : {"png", "svg", "pdf"}, optional
            The file format; by default the one ``path``'s suffix names.

        Returns
        -------
        matplotlib.figure.Figure
            The figure drawn into.
        """
        name = measure.upper()  # R@1, MRR
        return plot_model_bars(
            self.table(measure),
            path,
            title=f"{name} (%) by language pair: {self._what()}",
            axis_label=f"{name} (%)",
            chance=self._chance() if measure == "r@1" else None,
            ax=ax,
            format=format,
        )

    def markdown(self, significance: Mapping[str, ResultSignificance | None] | None = None) -> str:
        """The comparison as markdown: what was compared, the R@1 table (:meth:`table`),
        each model's family, layer, frame rate, sentences, mean R@1, settings hash and report
        folder, and each model's tests against the others.

        Parameters
        ----------
        significance : mapping of str to ResultSignificance or None, optional
            What :meth:`significance` returned (computed here when left out).

        Returns
        -------
        str
            The text, ending in a newline.
        """
        tests = self.significance() if significance is None else significance
        rows = []
        for model, result in zip(self.models, self.compared().values(), strict=True):
            rows.append(
                {
                    "model": model.label,
                    "family": model.info.family,
                    "identity": f"`{model.info.model}`",
                    "hidden state": str(result.settings.get("layer")),
                    "ms per frame": f"{1000 * model.info.frame_seconds:g}",
                    "sentences": str(result.settings.get("sentences")),
                    "mean R@1 (%)": f"{100 * result.mean():.{DIGITS}f}",
                    "settings": result.settings_hash,
                    "report": f"`{model.slug}/`",
                }
            )
        models = pd.DataFrame(rows).set_index("model")
        parts = [
            f"# Model comparison: R@1 (%) by language pair and model ({self._what()})",
            f"Chance level {self._chance():.{DIGITS}f} % (mean over pairs and models). The "
            f"metric and layer compared are the first of the run's; each model's report "
            "(in the folder named below) has all of them.",
            markdown_table(self.table()),
            "## Models",
            markdown_table(models),
            "## Significance",
            "Per model, the mean R@1 with its bootstrap interval over sentences, and the model "
            "against each other one on the same queries.",
        ]
        for label, test in tests.items():
            text = "no per-query ranks to test" if test is None else significance_markdown(test)
            parts += [f"### {label}", text]
        return "\n\n".join(parts) + "\n"

    def write(
        self,
        out: str | Path,
        figure_format: FigureFormat = DEFAULT_PICTURE_FORMAT,
        *,
        overwrite: bool = False,
        copy_audio: bool = False,
        pictures: int = 0,
        stores: Mapping[str, str | Path] | None = None,
    ) -> ComparisonReport:
        """Write the comparison into ``out`` and each model's report into ``out/<slug>``.

        In ``out``: ``model_comparison.csv`` (:meth:`table`, two decimals),
        ``model_comparison.md`` (:meth:`markdown`), ``model_comparison.json`` (the models
        compared and :meth:`significance`), ``model_comparison.png`` (or ``.svg``, ``.pdf``:
        :meth:`plot`) and ``report.html``: every model's matrix with a selector, each pair's
        queries with their audio, and the paired tests between the models
        (:func:`~seqsim.report.write_comparison_page`). In ``out/<slug>``: the model's
        report, as :func:`~seqsim.report.write_reports` writes it. All are files of one run
        of the folder (:mod:`seqsim.run_folder`).

        Parameters
        ----------
        out : str or Path
            The report folder.
        figure_format : {"png", "svg", "pdf"}, default "png"
            The format of every picture.
        overwrite : bool, default False
            Replace the report of another run in ``out`` (only the files it listed).
        copy_audio, pictures
            As :func:`~seqsim.report.write_reports` takes them, for every model's
            ``report.html``.
        stores : mapping of str to str or Path, optional
            Each model's store by label, where its pair pictures are drawn from (needed with
            ``pictures``).

        Returns
        -------
        ComparisonReport
            Every model's report and every file written.

        Raises
        ------
        ValueError
            For a figure format that is not png, svg or pdf, or a folder that holds another
            run's report (:class:`~seqsim.run_folder.ReportFolderError`) without
            ``overwrite``.
        OSError
            If a file cannot be written.
        """
        check_choice("figure format", figure_format, PICTURE_FORMATS)
        with RunFolder(out, overwrite=overwrite).writing() as run:
            report = ComparisonReport(run.folder)
            tests = self.significance()
            self.table().round(2).to_csv(csv := run.file(f"{COMPARISON_FILE}.csv"))
            (markdown := run.file(f"{COMPARISON_FILE}.md")).write_text(self.markdown(tests))
            picture = run.file(f"{COMPARISON_FILE}.{figure_format}")
            self.plot(picture, format=figure_format)
            record = {
                "metric": self.metric,
                "layer": self.layer,
                "models": [model.label for model in self.models],
                "significance": {
                    label: None if test is None else test.to_dict() for label, test in tests.items()
                },
            }
            (data := run.file(f"{COMPARISON_FILE}.json")).write_text(json.dumps(record, indent=2))
            page = write_comparison_page(self.compared(), tests, run, copy_audio=copy_audio)
            report.files += [csv, markdown, data, picture, page]
            for model in self.models:
                grid = write_grid(
                    self.results[model.label],
                    run,
                    model.slug,
                    figure_format,
                    copy_audio=copy_audio,
                    pictures=pictures,
                    store=(stores or {}).get(model.label),
                )
                report.models[model.label] = grid
                report.files += grid.files
        return report

    def _what(self) -> str:
        """The metric and layer compared, for titles."""
        return f"{self.metric}, layer {self.layer}"

    def _chance(self) -> float:
        """The chance level in percent: the mean over models of each result's mean chance."""
        compared = self.compared().values()
        return 100 * sum(result.mean("chance") for result in compared) / len(compared)


def plot_model_bars(
    table: pd.DataFrame,
    path: str | Path | None = None,
    title: str = "",
    *,
    axis_label: str = "R@1 (%)",
    chance: float | None = None,
    ax: Axes | None = None,
    format: FigureFormat | None = None,
) -> Figure:
    """Grouped horizontal bars of a table in percent: a group per row (top to bottom), a bar
    per column, each value written at the end of its bar.

    Parameters
    ----------
    table : pandas.DataFrame
        Values in percent; rows are the groups (a last row ``mean`` is set apart by a line),
        columns the bars of each group (the legend).
    path : str or Path, optional
        Where to write the figure (:func:`~seqsim.report.save_figure`).
    title : str, default ""
        The plot's title.
    axis_label : str, default "R@1 (%)"
        What the values are (the label of the value axis).
    chance : float, optional
        The chance level in percent, drawn dashed.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    format : {"png", "svg", "pdf"}, optional
        The file format; by default the one ``path``'s suffix names.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.model_comparison import plot_model_bars
    >>> table = pd.DataFrame({"a": [80.0, 60.0, 70.0], "b": [40.0, 20.0, 30.0]},
    ...                      index=["en→fr", "fr→en", "mean"])
    >>> figure = plot_model_bars(table, chance=20.0)
    >>> [text.get_text() for text in figure.axes[0].texts]
    ['80.0', '60.0', '70.0', '40.0', '20.0', '30.0']
    """
    groups, bars = len(table.index), len(table.columns)
    bar_height = 0.8 / bars
    if ax is None:
        figure = Figure(figsize=(8.0, max(3.0, 1.2 + groups * (0.14 * bars + 0.12))))
        ax = figure.add_subplot()
    else:
        figure = ax.get_figure()  # type: ignore[assignment]
    palette = colormaps["tab10"]
    for number, column in enumerate(table.columns):
        positions = [group + (number - (bars - 1) / 2) * bar_height for group in range(groups)]
        values = table[column].to_numpy(dtype=float)
        drawn = ax.barh(
            positions,
            values,
            height=bar_height,
            color=palette(number % palette.N),
            label=str(column),
        )
        ax.bar_label(drawn, labels=[f"{v:.{DIGITS}f}" for v in values], padding=2, fontsize=6)
    ax.set_yticks(range(groups), [str(index) for index in table.index])
    ax.set_ylim(groups - 0.5, -0.5)  # the first row on top
    if groups > 1 and str(table.index[-1]) == MEAN_ROW:
        ax.axhline(groups - 1.5, color="grey", linewidth=0.8)
    if chance is not None:
        ax.axvline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xlim(0, 110)
    ax.set_xlabel(axis_label)
    ax.set_title(title, fontsize=10)
    columns = min(bars + 1, LEGEND_COLUMNS)
    legend_inches = 0.1 + 0.2 * math.ceil((bars + 1) / columns)
    figure.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=columns, fontsize=8)
    figure.tight_layout(rect=(0, legend_inches / figure.get_figheight(), 1, 1))
    if path is not None:
        save_figure(figure, path, format)
    return figure


def compare_models(
    corpus: Corpus | None,
    models: Sequence[str | EncoderSpec | Any],
    *,
    stores: Stores = None,
    layers: Sequence[int] = (DEFAULT_LAYER,),
    metrics: Sequence[str | Metric] = (DEFAULT_METRIC,),
    **options: Any,
) -> ModelComparison:
    """Evaluate every model on the same corpus (:func:`~seqsim.evaluation.evaluate_grid`, one
    model after the other) and compare them.

    Every model is read, its layers and the models' uniqueness checked before anything is
    embedded. Each model embeds into its own store, so a run that is interrupted resumes
    every model (the models already embedded are read from their full stores, not loaded).

    Parameters
    ----------
    corpus : Corpus or None
        The utterances; None evaluates what each model's store holds.
    models : sequence of str, EncoderSpec or models in memory
        The models: anything :func:`~seqsim.load_encoder` takes, each once; their families
        and layer counts may differ.
    stores : str, Path, callable or None, default None
        Each model's store: ``stores/<slug>`` for a folder, ``stores(slug)`` for a function
        (:func:`model_slug`), a temporary one for None (then every run embeds again).
    layers : sequence of int, default (-1,)
        The layers each model is evaluated on (negative counts from each model's last).
    metrics : sequence of str or Metric, default ("seqsim",)
        The metrics; the comparison uses the first.
    **options
        The other options of :func:`~seqsim.evaluation.evaluate_grid` (``langs``,
        ``normalization``, ``bootstrap``, ``device``, ``runner``, ...), the same for every
        model.

    Returns
    -------
    ModelComparison
        Every model's results and their comparison.

    Raises
    ------
    TypeError
        For an option :func:`~seqsim.evaluation.evaluate_grid` does not take (``model`` and
        ``store`` are per model here: ``models``, ``stores``).
    ModelComparisonError
        For no model, or one given twice.
    ValueError
        For a model that cannot be found, a layer a model lacks (naming the model), and as
        :func:`~seqsim.evaluation.evaluate_grid` raises it.

    Examples
    --------
    Whisper's 30 s window against its short context (:class:`~seqsim.WhisperEmbedder`'s
    ``context="audio"``), on two sentences of the demo, each model into a temporary store:

    >>> from seqsim.corpus import Corpus, demo_corpus
    >>> from seqsim.encoders import EncoderSpec
    >>> from seqsim.model_comparison import compare_models
    >>> demo = demo_corpus().parallel(["en", "fr"])
    >>> corpus = Corpus([u for u in demo.utterances if u.sentence in ("s18", "s33")])
    >>> short = EncoderSpec("whisper-base-offline", options={"context": "audio"})
    >>> comparison = compare_models(corpus, ["whisper-base-offline", short], progress=False)
    >>> comparison.table()  # doctest: +NORMALIZE_WHITESPACE
    model  whisper-base-offline  whisper-base-offline (context=audio)
    pair
    en→fr                 100.0                                 100.0
    fr→en                  50.0                                  50.0
    mean                   75.0                                  75.0
    """
    grid_options = [
        name
        for name, parameter in inspect.signature(evaluate_grid).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        and name not in ("model", "store", "layers", "metrics")
    ]
    refuse_unknown(
        "compare_models",
        [name for name in options if name not in grid_options],
        ["stores", "layers", "metrics", *grid_options],
        {"model": "give the models as models=[...]", "store": "give stores= (one per model)"},
    )
    compared = compared_models(models, layers)
    results = {
        model.label: evaluate_grid(
            corpus,
            store=store_of(stores, model.slug),
            model=model.spec,
            layers=layers,
            metrics=metrics,
            **options,
        )
        for model in compared
    }
    return ModelComparison(compared, results)


@overload
def store_of(stores: None, slug: str) -> None: ...
@overload
def store_of(stores: str | Path | Callable[[str], str | Path], slug: str) -> Path: ...
def store_of(stores: Stores, slug: str) -> Path | None:
    """The store of the model with ``slug``, as ``stores`` places it (:data:`Stores`).

    Parameters
    ----------
    stores : str, Path, callable or None
        A folder of stores, a function of the slug, or None (a temporary store).
    slug : str
        The model's (:func:`model_slug`).

    Returns
    -------
    pathlib.Path or None

    Examples
    --------
    >>> from pathlib import Path
    >>> from seqsim.model_comparison import store_of
    >>> store_of("stores", "tiny-0a1b2c3d"), store_of(lambda s: Path("r") / s / "store", "t")
    (PosixPath('stores/tiny-0a1b2c3d'), PosixPath('r/t/store'))
    """
    if stores is None:
        return None
    if callable(stores):
        return Path(stores(slug))
    return Path(stores) / slug


__all__ = [
    "COMPARISON_FILE",
    "ComparedModel",
    "ComparisonReport",
    "ModelComparison",
    "ModelComparisonError",
    "Stores",
    "compare_models",
    "compared_models",
    "model_labels",
    "model_slug",
    "plot_model_bars",
    "store_of",
]
