"""``seqsim prepare fleurs|mass``: the manifest of a public corpus from its files on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from ..corpus import Corpus, write_manifest
from ..recipes.fleurs import SPLITS
from .errors import friendly_errors
from .options import comma_list, langs_option, out_option, recordings_option, seed_option


@click.group(name="prepare")
def prepare_group() -> None:
    """Write the manifest of a public corpus from its files on disk (docs/corpora.md)."""


_MANIFEST_OUT = out_option(
    "file", "Manifest to write (.tsv, .csv or .jsonl), for embed and evaluate --manifest."
)


@prepare_group.command(name="fleurs")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@langs_option("FLEURS languages, comma-separated: en_us,fr_fr.", required=True)
@_MANIFEST_OUT
@click.option(
    "--splits",
    default=",".join(SPLITS),
    show_default=True,
    callback=comma_list,
    help="Splits to combine.",
)
@recordings_option(
    "one",
    "One recording per sentence and language (seeded: the paper's protocol), or all "
    "(multi-positive evaluation).",
)
@seed_option("Seed of the choice of --recordings one.")
@friendly_errors
def prepare_fleurs_command(
    root: Path,
    langs: list[str] | None,
    out: Path,
    splits: list[str] | None,
    recordings: Literal["one", "all"],
    seed: int,
) -> None:
    """FLEURS as distributed: ROOT/LANG/SPLIT.tsv, audio extracted to ROOT/LANG/audio/SPLIT/."""
    from ..recipes import prepare_fleurs

    corpus = prepare_fleurs(
        root, langs or [], splits=splits or [], recordings=recordings, seed=seed
    )
    _write_prepared(corpus, out)


@prepare_group.command(name="mass")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@langs_option("Language folders, comma-separated (default: all in ROOT).")
@_MANIFEST_OUT
@friendly_errors
def prepare_mass_command(root: Path, langs: list[str] | None, out: Path) -> None:
    """MaSS as verse-aligned folders: ROOT/LANG/VERSE.wav (and VERSE.txt)."""
    from ..recipes import prepare_mass

    _write_prepared(prepare_mass(root, langs), out)


def _write_prepared(corpus: Corpus, out: Path) -> None:
    """Write the manifest, then what it holds and what was left out."""
    write_manifest(corpus, out)
    sentences = {u.sentence for u in corpus.utterances}
    click.echo(f"wrote {len(corpus.utterances)} utterances -> {out}")
    for lang in corpus.languages:
        click.echo(f"  {lang}: {len(corpus.by_language(lang))} utterances")
    click.echo(f"sentences kept (in every language): {len(sentences)}")
    kept_one = " (one kept per sentence and language)" if corpus.dropped_recordings else ""
    click.echo(f"recordings dropped: {corpus.dropped_recordings}{kept_one}")
    absent = set().union(*corpus.missing.values())
    click.echo(f"sentences missing in some language (left out): {len(absent)}")
    for lang, ids in corpus.missing.items():
        more = ", ..." if len(ids) > 10 else ""
        click.echo(f"  missing in {lang}: {len(ids)} ({', '.join(ids[:10])}{more})")
