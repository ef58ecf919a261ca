"""``seqsim evaluate`` (R@1 matrices over language pairs, and a report; several models
compared in one) and ``seqsim demo`` (the bundled corpus with the offline whisper-base)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._defaults import DEFAULT_BOOTSTRAP, DEFAULT_SEARCH, OFFLINE_BASE, SEARCH_MODES
from ..corpus import Corpus, demo_corpus, read_manifest
from ..ranking import DEFAULT_NEIGHBOURS, DEFAULT_NORMALIZATION, NORMALIZATIONS
from .errors import friendly_errors, resumable
from .options import (
    backend_option,
    candidates_option,
    device_option,
    figure_format_option,
    html_report_options,
    k_option,
    langs_option,
    layers_option,
    manifest_option,
    metrics_option,
    model_option,
    out_option,
    overwrite_option,
    ray_options,
    recordings_option,
    seed_option,
    store_option,
)
from .output import echo_embed_notes, echo_failures, removed_if_left_empty, writable_folder

if TYPE_CHECKING:
    from ..encoders import EncoderSpec
    from ..metrics import Metric
    from ..placement import Placement

DEMO_LAYER = 6
"""The demo's encoder layer: whisper-base's final output (see docs/cli.md for the ablation)."""


@click.command(name="evaluate")
@manifest_option(
    "Corpus to embed and evaluate (needs --model): a TSV, CSV or JSONL manifest, or a "
    "lhotse cuts/recordings .jsonl.gz."
)
@model_option(
    "Model for --manifest; with --store, checked against the store's. Several, "
    "comma-separated, are compared in one report (docs/evaluation.md, Table 6).",
    several=True,
)
@store_option(
    "Stored embeddings (alone, or as the cache for --manifest); with several models, the "
    "folder of their stores (STORE/<model-slug>)."
)
@metrics_option("Registered metric name(s), comma-separated: a comparison table for several.")
@langs_option("Languages, comma-separated (default: all in the corpus).")
@layers_option("Encoder layer(s), comma-separated: an ablation plot for several")
@out_option(
    "folder",
    "Report directory; without --store, embeddings are kept in OUT/store (with several "
    "models, OUT/<model-slug>/store).",
)
@click.option(
    "--normalization",
    type=click.Choice(NORMALIZATIONS),
    default=DEFAULT_NORMALIZATION,
    show_default=True,
    help="Hubness correction of the scores (CSLS or ratio margin over --k neighbours); the "
    "raw measures are reported too.",
)
@k_option(DEFAULT_NEIGHBOURS, "Neighbours for csls / margin.")
@click.option("--center", is_flag=True, help="Subtract each language's mean frame first.")
@click.option(
    "--bootstrap",
    default=DEFAULT_BOOTSTRAP,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bootstrap samples for R@1 confidence intervals (0: none).",
)
@backend_option("the metrics")
@device_option("the encoder and the torch backend")
@click.option(
    "--search",
    type=click.Choice(SEARCH_MODES),
    default=DEFAULT_SEARCH,
    show_default=True,
    help="Score every candidate, or search a SequenceIndex (also among all languages pooled).",
)
@candidates_option("Shortlist length per query with --search index.")
@click.option(
    "--agreement-sample",
    type=click.IntRange(min=1),
    help="Queries per pair checked against exhaustive search with --search index (all).",
)
@recordings_option(
    "all",
    "Sentences with several recordings per language: all (multi-positive: any recording of "
    "the sentence is a hit) or one each, chosen with --seed (docs/corpora.md).",
)
@seed_option("Seed of --recordings one and of the bootstrap.")
@figure_format_option()
@html_report_options
@overwrite_option()
@friendly_errors
@ray_options
def evaluate_command(
    manifest: Path | None,
    model: list[EncoderSpec] | None,
    store_path: Path | None,
    metrics: list[Metric],
    langs: list[str] | None,
    layers: list[int],
    out: Path,
    figure_format: str,
    overwrite: bool,
    place: Placement,
    **options: Any,
) -> None:
    """R@1 / R@5 / R@10 / MRR matrices over language pairs, with tables and a heatmap;
    several models compared in one report (--model A,B); embedding and scoring on a Ray
    cluster with --ray."""
    from ..evaluation_options import ScoringOptions, SearchOptions

    metrics = [place.metric(metric) for metric in metrics]
    options["runner"] = place.embedding()
    options["scoring"] = ScoringOptions(
        **{field.name: options.pop(field.name) for field in fields(ScoringOptions)}
    )
    options["search"] = SearchOptions(
        options.pop("search"), options.pop("candidates"), options.pop("agreement_sample")
    )
    if manifest is None and store_path is None:
        raise click.UsageError("give --manifest (with --model) or --store")
    if manifest is not None and not model:
        raise click.UsageError("--manifest needs --model")
    corpus = read_manifest(manifest, check_files=False) if manifest is not None else None
    if model and len(model) > 1:
        _run_comparison(
            corpus,
            model,
            store_path,
            metrics,
            layers,
            langs,
            out,
            figure_format,
            overwrite,
            **options,
        )
        return
    _run_evaluation(
        corpus,
        model[0] if model else None,
        store_path or out / "store",
        metrics,
        layers,
        langs,
        out,
        figure_format,
        overwrite,
        **options,
    )


@click.command(name="demo")
@out_option(
    "folder", "Report directory; the embeddings are kept in OUT/store.", default="seqsim-demo"
)
@metrics_option("Registered metric name(s), comma-separated.")
@layers_option("Encoder layer(s) of whisper-base, comma-separated", default=DEMO_LAYER)
@figure_format_option()
@html_report_options
@overwrite_option()
@friendly_errors
def demo_command(
    out: Path,
    metrics: list[Metric],
    layers: list[int],
    figure_format: str,
    html: dict[str, Any],
    overwrite: bool,
) -> None:
    """Evaluate the bundled demo corpus (40 sentences x en, fr, de, es, it) with the offline
    whisper-base; no network needed. Open OUT/report.html to see and hear the failures."""
    _run_evaluation(
        demo_corpus(),
        OFFLINE_BASE,
        out / "store",
        metrics,
        layers,
        None,
        out,
        figure_format,
        overwrite,
        html=html,
    )


def _run_evaluation(
    corpus: Corpus | None,
    model: str | EncoderSpec | None,
    store_path: Path,
    metrics: list[Metric],
    layers: list[int],
    langs: list[str] | None,
    out: Path,
    figure_format: Any,
    overwrite: bool,
    html: dict[str, Any],
    **options: Any,
) -> None:
    """Evaluate, write the reports (:func:`seqsim.report.write_reports`) and print them: one
    result's matrix; for several, a table of every mean, then the first one's matrix."""
    from ..evaluation import evaluate_grid
    from ..report import interval_table, markdown_table, search_summary, write_reports

    _check_before_work(langs, out, overwrite)
    keys = [u.key for u in corpus.utterances] if corpus is not None and model else []
    with removed_if_left_empty(out), resumable(store_path, keys):
        results = evaluate_grid(
            corpus,
            store=store_path,
            model=model,
            layers=layers,
            metrics=metrics,
            langs=langs,
            progress=True,
            **options,
        )
        pictures_from = {"store": store_path} if html["pictures"] else {}
        report = write_reports(
            results, out, figure_format, overwrite=overwrite, **html, **pictures_from
        )
    (first_metric, first_layer), primary = next(iter(results.items()))
    _echo_embedding(primary, store_path)
    settings = primary.settings
    counted = _counted(settings)
    if len(results) > 1:
        click.echo(
            f"mean R@1 (%) over {len(primary.summary)} language pairs, {counted} (chance "
            f"{100 * primary.mean('chance'):.1f} %), {settings['model']}:"
        )
        click.echo(markdown_table(_means_table(results)))
        click.echo(f"\nthe first of them ({report.folders[(first_metric, first_layer)]}):")
    click.echo(
        f"R@1 (%) {first_metric}, {settings['model']} layer {settings['layer']}, {counted} "
        f"(chance {100 * primary.mean('chance'):.1f} %), settings {primary.settings_hash}"
    )
    click.echo(markdown_table(primary.matrix("r@1")))
    if "ci_low" in primary.summary.columns:
        click.echo(f"R@1 (%) 95 % bootstrap interval ({settings['bootstrap']} samples):")
        click.echo(markdown_table(interval_table(primary)))
    click.echo(f"mean R@1 over pairs: {100 * primary.mean():.1f} %")
    if settings.get("search") == "index":
        click.echo(search_summary(primary))
    _echo_skipped(primary)
    click.echo(f"\nreport written to {out}")


def _run_comparison(
    corpus: Corpus | None,
    models: list[EncoderSpec],
    store_path: Path | None,
    metrics: list[Metric],
    layers: list[int],
    langs: list[str] | None,
    out: Path,
    figure_format: Any,
    overwrite: bool,
    html: dict[str, Any],
    **options: Any,
) -> None:
    """Evaluate several models (:func:`seqsim.model_comparison.compare_models`), each into
    its own store (``STORE/<slug>``, by default ``OUT/<slug>/store``), write the comparison
    and every model's report, and print the comparison table."""
    from ..model_comparison import compare_models, compared_models, store_of
    from ..report import markdown_table

    _check_before_work(langs, out, overwrite)
    checked = compared_models(models, layers)  # every model readable, with the layers, once
    stores = store_path if store_path is not None else (lambda slug: out / slug / "store")
    store_paths = {model.label: store_of(stores, model.slug) for model in checked}
    keys = [u.key for u in corpus.utterances] if corpus is not None else []
    with removed_if_left_empty(out), ExitStack() as interrupted:
        for path in store_paths.values():
            interrupted.enter_context(resumable(path, keys))
        comparison = compare_models(
            corpus,
            models,
            stores=stores,
            layers=layers,
            metrics=metrics,
            langs=langs,
            progress=True,
            **options,
        )
        comparison.write(out, figure_format, overwrite=overwrite, **html, stores=store_paths)
    compared = comparison.compared()
    for label, result in compared.items():
        _echo_embedding(result, store_paths[label], f"{label}: ")
        _echo_skipped(result, f"{label}: ")
    first = next(iter(compared.values()))
    states = ", ".join(f"{r.settings['layer']} of {label}" for label, r in compared.items())
    first_of = " (the first given)" if len(metrics) > 1 or len(layers) > 1 else ""
    click.echo(
        f"R@1 (%) by language pair and model: {comparison.metric}, layer {comparison.layer}"
        f"{first_of} (hidden state {states}), {_counted(first.settings)} (chance "
        f"{100 * first.mean('chance'):.1f} %)"
    )
    click.echo(markdown_table(comparison.table()))
    click.echo(f"\nreport written to {out} (each model's in {out}/<model-slug>)")


def _check_before_work(langs: list[str] | None, out: Path, overwrite: bool) -> None:
    """Refuse, before anything is loaded, fewer than two languages and a report folder that
    holds another run's report or cannot be written."""
    from ..evaluation import check_languages
    from ..run_folder import check_report_folder

    check_languages(langs)
    check_report_folder(out, overwrite=overwrite)
    writable_folder(out, "report")


def _counted(settings: Mapping[str, Any]) -> str:
    """What a result counted: its sentences and, multi-positive, its recordings."""
    counted = f"{settings['sentences']} sentences"
    if settings.get("multi_positive"):
        recordings = sum(settings["recordings_per_language"].values())
        counted += (
            f", {recordings} recordings (multi-positive: any recording of the sentence is a hit)"
        )
    return counted


def _echo_embedding(result: Any, store_path: Path, model: str = "") -> None:
    """What the run embedded into ``store_path`` and what it noticed (on stderr), each line
    after ``model``."""
    if not result.embedding:
        return
    embedding = result.embedding
    click.echo(
        f"{model}embedded {embedding['embedded']}, already stored "
        f"{embedding['already_stored']} -> {store_path}",
        err=True,
    )
    echo_embed_notes(embedding["changed"], embedding["unchecked"], embedding["short"])


def _echo_skipped(result: Any, model: str = "") -> None:
    """The utterances a result skipped (bad audio) and the sentences it dropped (missing in a
    language), on stderr, after ``model``."""
    echo_failures(result.failures)
    if result.failures:
        click.echo(
            f"{model}{len(result.failures)} utterance(s) skipped (bad audio), listed in "
            "results.json; their sentences were left out in every language",
            err=True,
        )
    for lang, ids in result.settings.get("missing_sentences", {}).items():
        click.echo(
            f"{model}dropped {len(ids)} sentence(s) missing in {lang}: {', '.join(ids[:10])}",
            err=True,
        )


def _means_table(results: Mapping[tuple[str, int], Any]) -> Any:
    """Mean R@1 (%) of every result: metrics as rows, layers (hidden-state indices) as
    columns."""
    import pandas as pd

    table = pd.DataFrame(
        [
            {"metric": metric, "layer": result.settings["layer"], "r@1": 100 * result.mean()}
            for (metric, _), result in results.items()
        ]
    ).pivot(index="metric", columns="layer", values="r@1")
    table = table.reindex(index=list(dict.fromkeys(metric for metric, _ in results)))
    table.columns = [f"layer {layer}" for layer in table.columns]
    return table
