"""``seqsim evaluate`` (R@1 matrices over language pairs, and a report) and ``seqsim demo``
(the bundled corpus with the offline whisper-base)."""

from __future__ import annotations

from collections.abc import Mapping
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
    from ..distributed.cluster import RayCluster

DEMO_LAYER = 6
"""The demo's encoder layer: whisper-base's final output (see docs/cli.md for the ablation)."""


@click.command(name="evaluate")
@manifest_option(
    "Corpus to embed and evaluate (needs --model): a TSV, CSV or JSONL manifest, or a "
    "lhotse cuts/recordings .jsonl.gz."
)
@model_option("Model for --manifest; with --store, checked against the store's.")
@store_option("Stored embeddings (alone, or as the cache for --manifest).")
@metrics_option("Registered metric name(s), comma-separated: a comparison table for several.")
@langs_option("Languages, comma-separated (default: all in the corpus).")
@layers_option("Encoder layer(s), comma-separated: an ablation plot for several")
@out_option("folder", "Report directory; without --store, embeddings are kept in OUT/store.")
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
@overwrite_option()
@friendly_errors
@ray_options
def evaluate_command(
    manifest: Path | None,
    model: str | None,
    store_path: Path | None,
    metrics: list[str],
    langs: list[str] | None,
    layers: list[int],
    out: Path,
    figure_format: str,
    overwrite: bool,
    cluster: RayCluster | None,
    **options: Any,
) -> None:
    """R@1 / R@5 / R@10 / MRR matrices over language pairs, with tables and a heatmap;
    embedding and scoring on a Ray cluster with --ray."""
    if manifest is None and store_path is None:
        raise click.UsageError("give --manifest (with --model) or --store")
    if manifest is not None and model is None:
        raise click.UsageError("--manifest needs --model")
    corpus = read_manifest(manifest, check_files=False) if manifest is not None else None
    _run_evaluation(
        corpus,
        model,
        store_path or out / "store",
        metrics,
        layers,
        langs,
        out,
        figure_format,
        overwrite,
        cluster=cluster,
        **options,
    )


@click.command(name="demo")
@out_option(
    "folder", "Report directory; the embeddings are kept in OUT/store.", default="seqsim-demo"
)
@metrics_option("Registered metric name(s), comma-separated.")
@layers_option("Encoder layer(s) of whisper-base, comma-separated", default=DEMO_LAYER)
@figure_format_option()
@overwrite_option()
@friendly_errors
def demo_command(
    out: Path, metrics: list[str], layers: list[int], figure_format: str, overwrite: bool
) -> None:
    """Evaluate the bundled demo corpus (40 sentences x en, fr, de, es, it) with the offline
    whisper-base; no network needed."""
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
    )


def _run_evaluation(
    corpus: Corpus | None,
    model: str | None,
    store_path: Path,
    metrics: list[str],
    layers: list[int],
    langs: list[str] | None,
    out: Path,
    figure_format: Any,
    overwrite: bool,
    **options: Any,
) -> None:
    """Evaluate, write the reports (:func:`seqsim.report.write_reports`) and print them: one
    result's matrix; for several, a table of every mean, then the first one's matrix."""
    from ..evaluation import check_languages, evaluate_grid
    from ..report import interval_table, markdown_table, search_summary, write_reports
    from ..run_folder import check_report_folder

    check_languages(langs)
    check_report_folder(out, overwrite=overwrite)
    writable_folder(out, "report")
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
        report = write_reports(results, out, figure_format, overwrite=overwrite)
    (first_metric, first_layer), primary = next(iter(results.items()))
    if primary.embedding:
        embedding = primary.embedding
        click.echo(
            f"embedded {embedding['embedded']}, already stored {embedding['already_stored']} "
            f"-> {store_path}",
            err=True,
        )
        echo_embed_notes(embedding["changed"], embedding["unchecked"], embedding["short"])
    settings = primary.settings
    counted = f"{settings['sentences']} sentences"
    if settings.get("multi_positive"):
        recordings = sum(settings["recordings_per_language"].values())
        counted += (
            f", {recordings} recordings (multi-positive: any recording of the sentence is a hit)"
        )
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
    echo_failures(primary.failures)
    if primary.failures:
        click.echo(
            f"{len(primary.failures)} utterance(s) skipped (bad audio), listed in results.json; "
            "their sentences were left out in every language",
            err=True,
        )
    if settings.get("missing_sentences"):
        for lang, ids in settings["missing_sentences"].items():
            click.echo(
                f"dropped {len(ids)} sentence(s) missing in {lang}: {', '.join(ids[:10])}", err=True
            )
    click.echo(f"\nreport written to {out}")


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
