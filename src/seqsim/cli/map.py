"""``seqsim map``: the shared space as a picture, one mean frame per utterance of a store."""

from __future__ import annotations

from pathlib import Path

import click

from ..corpus import read_manifest
from ..shared_space import DEFAULT_MAP_METHOD, MAP_METHODS
from .errors import friendly_errors
from .options import layer_option, manifest_option, out_option, seed_option, store_option
from .output import with_folder, writable_folder


@click.command(name="map")
@store_option("Embedding store whose utterances are drawn (of any encoder).", required=True)
@manifest_option(
    "Draw only its utterances, labelled by their sentences [default: every stored utterance]."
)
@layer_option(
    "Encoder layer of the store (hidden-state index); needed when it holds several.",
    default=None,
    show_default="the store's only layer",
)
@click.option(
    "--method",
    type=click.Choice(MAP_METHODS),
    default=DEFAULT_MAP_METHOD,
    show_default=True,
    help="Layout in two dimensions: t-SNE, or PCA (linear, faster).",
)
@seed_option("Seed of the layout: the same seed, the same map.")
@out_option("file", "The picture: .png, .svg or .pdf.")
@friendly_errors
def map_command(
    store_path: Path,
    manifest: Path | None,
    layer: int | None,
    method: str,
    seed: int,
    out: Path,
) -> None:
    """Map of the shared space: one mean frame per utterance of a store, laid out in two
    dimensions, coloured by language and labelled by sentence."""
    from ..pair import picture_format
    from ..shared_space import METHOD_NAMES, plot_shared_space, shared_space_map

    picture = picture_format(out)
    writable_folder(out.parent, "picture")
    corpus = read_manifest(manifest, check_files=False) if manifest is not None else None
    space = shared_space_map(store_path, layer, corpus, method=method, seed=seed)
    plot_shared_space(space).savefig(with_folder(out), format=picture, dpi=100)
    click.echo(
        f"mapped {len(space.keys)} utterances in {len(set(space.languages))} languages of "
        f"{store_path} (layer {space.layer}, {METHOD_NAMES[method]}) -> {out}"
    )
