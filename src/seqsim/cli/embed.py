"""``seqsim embed``: a corpus into a resumable embedding store, here or on a Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from .._defaults import (
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_SHARD_SIZE,
    DEFAULT_STORAGE_DTYPE,
    RAY_SHARD_SIZE,
    STORAGE_DTYPES,
)
from ..corpus import DUPLICATES, read_manifest
from .errors import friendly_errors, resumable
from .options import device_option, layers_option, model_option, out_option, ray_options
from .output import echo_embed_notes, echo_failures, removed_if_left_empty, writable_folder

if TYPE_CHECKING:
    from ..encoders import EncoderSpec
    from ..placement import Placement


@click.command(name="embed")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@model_option()
@layers_option("Hidden-state indices (comma-separated), or 'all'", allow_all=True)
@out_option("folder", "Store directory (created, or resumed).", dest="store_path")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Utterances per encoder pass [default: 16 on CUDA, 1 on the CPU].",
)
@device_option("the encoder")
@click.option(
    "--dtype",
    type=click.Choice(STORAGE_DTYPES),
    default=DEFAULT_STORAGE_DTYPE,
    show_default=True,
    help="Storage dtype.",
)
@click.option(
    "--duplicates",
    type=click.Choice(DUPLICATES),
    default=DUPLICATES[0],
    show_default=True,
    help="Repeated (id, lang) rows: refuse, or keep one recording per sentence (seeded).",
)
@click.option(
    "--fail-fast", is_flag=True, help="Stop at the first bad audio file instead of recording it."
)
@click.option(
    "--shard-size",
    type=click.IntRange(min=1),
    help=f"Utterances per shard at most [default: {DEFAULT_SHARD_SIZE}; with --ray "
    f"{RAY_SHARD_SIZE}, the work an actor takes at once].",
)
@click.option(
    "--flush-seconds",
    default=DEFAULT_FLUSH_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Write a shard at least this often: a killed run loses no more work than this.",
)
@friendly_errors
@ray_options
def embed_command(
    manifest: Path,
    model: EncoderSpec,
    layers: list[int] | Literal["all"],
    store_path: Path,
    batch_size: int | None,
    device: str,
    dtype: str,
    duplicates: str,
    fail_fast: bool,
    shard_size: int | None,
    flush_seconds: float,
    place: Placement,
) -> None:
    """Embed every utterance of MANIFEST (TSV, CSV or JSONL: id, lang, path) into a store,
    here or (--ray) on a Ray cluster."""
    from ..embedding import embed_corpus

    # a missing audio file is one bad item, recorded and skipped like an unreadable one
    corpus = read_manifest(manifest, duplicates=duplicates, check_files=False)
    writable_folder(store_path, "store")
    with (
        removed_if_left_empty(store_path),
        resumable(store_path, [u.key for u in corpus.utterances]),
    ):
        report = embed_corpus(
            corpus,
            model,
            store_path,
            layers,
            device=device,
            batch_size=batch_size,
            runner=place.embedding(),
            dtype=dtype,
            fail_fast=fail_fast,
            shard_size=shard_size,
            flush_seconds=flush_seconds,
        )
    click.echo(
        f"embedded {report.embedded}, already stored {report.skipped}, "
        f"failed {len(report.failures)} -> {store_path}"
    )
    if report.layers_added:
        click.echo(f"added layer(s) {report.layers_added} to every stored utterance")
    echo_embed_notes(report.changed, report.unchecked, report.short)
    echo_failures(report.failures)
    for shard in report.set_aside:
        click.echo(f"set aside corrupt shard {shard}; its utterances were embedded again", err=True)
    if corpus.dropped_recordings:
        click.echo(
            f"kept one recording per sentence and language; dropped {corpus.dropped_recordings}"
        )
