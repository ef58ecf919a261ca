"""``seqsim index build`` (a search index over a store) and ``seqsim search`` (its K best
utterances for every query: a shortlist, reranked exactly)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._defaults import (
    DEFAULT_CENTROIDS,
    DEFAULT_FACTORY,
    DEFAULT_GENERATOR,
    DEFAULT_HITS,
    DEFAULT_LAYER,
    DEFAULT_PER_FRAME,
    DEFAULT_RESCORE,
)
from ..corpus import read_manifest
from .errors import friendly_errors
from .options import (
    RegistryChoice,
    backend_option,
    candidates_option,
    comma_list,
    device_option,
    k_option,
    langs_option,
    layer_option,
    manifest_option,
    metric_option,
    model_option,
    out_option,
    ray_options,
    store_option,
)
from .output import echo_failures, with_folder, writable_folder

if TYPE_CHECKING:
    from ..encoders import EncoderSpec
    from ..placement import Placement


def _generator_names() -> tuple[str, ...]:
    """The registered shortlist generators: the built-in ones and those of plugins."""
    from ..search.candidates import GENERATORS

    return tuple(GENERATORS)


def _generator_options(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """The options in ``given`` that the generator registered as ``name`` takes (its
    constructor names them), to build it with."""
    from ..search.candidates import generator_class

    taken = inspect.signature(generator_class(name)).parameters
    return {option: value for option, value in given.items() if option in taken}


@click.group(name="index")
def index_group() -> None:
    """Build a search index over a store (then query it with `seqsim search`)."""


@index_group.command(name="build")
@store_option("Embedding store whose utterances become searchable.", required=True)
@layer_option("Encoder layer of the store.")
@langs_option("Index only the utterances in these languages, comma-separated [default: all].")
@out_option("file", "Index file (replaced atomically).")
@metric_option("Metric of the exact rerank.")
@click.option(
    "--generator",
    type=RegistryChoice(_generator_names, metavar="NAME"),
    default=DEFAULT_GENERATOR,
    show_default=True,
    help="Shortlist: centroids (SeqSim on centroid-quantised frames), frames (frame-level "
    "neighbours), mean (mean vectors), or one registered with "
    "seqsim.search.register_generator in a module given to --import; it takes the options "
    "below that it names.",
)
@candidates_option("Shortlist length per query (reranked exactly).")
@click.option(
    "--centroids",
    "centroid_count",
    default=None,
    show_default=str(DEFAULT_CENTROIDS),
    type=click.IntRange(min=1),
    help="k-means centroids (centroids shortlist; fewer for a store too small to train them).",
)
@click.option(
    "--rescore",
    default=DEFAULT_RESCORE,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sequences whose recall side is estimated (centroids shortlist).",
)
@click.option(
    "--per-frame",
    default=None,
    show_default=str(DEFAULT_PER_FRAME),
    type=click.IntRange(min=1),
    help="Neighbours per query frame (frames shortlist).",
)
@click.option(
    "--factory",
    default=DEFAULT_FACTORY,
    show_default=True,
    help="faiss index factory string (frames and mean shortlists): Flat, HNSW32, IVF4096,PQ64.",
)
@friendly_errors
def build_index(
    store_path: Path,
    layer: int,
    langs: list[str] | None,
    out: Path,
    metric: str,
    generator: str,
    candidates: int,
    centroid_count: int | None,
    rescore: int,
    per_frame: int | None,
    factory: str,
) -> None:
    """Index every utterance of a store."""
    import time

    from ..search import SequenceIndex

    writable_folder(out.parent, "index")
    options = _generator_options(
        generator,
        {
            "centroids": centroid_count,
            "rescore": rescore,
            "per_frame": per_frame,
            "factory": factory,
        },
    )
    started = time.perf_counter()
    index = SequenceIndex.from_store(
        store_path,
        layer,
        langs=langs,
        metric=metric,
        generator=generator,
        candidates=candidates,
        **options,
    )
    index.save(with_folder(out))
    languages = f" in {', '.join(index.source['langs'])}" if langs else ""
    click.echo(
        f"indexed {len(index)} utterances{languages} of {store_path} (layer "
        f"{index.source['layer']}) in {time.perf_counter() - started:.1f} s -> {out}"
    )


@click.command(name="search")
@click.argument("index_path", type=click.Path(dir_okay=False, path_type=Path))
@store_option("Store of the queries (alone, or as the cache for --manifest).")
@manifest_option("Queries.")
@model_option("Model for --manifest (must be the index's).")
@click.option(
    "--indexed-store",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the store that the index was built from is now, if it was moved [default: "
    "where it was built, else the same place relative to the index file].",
)
@langs_option("Only queries in these languages, comma-separated.")
@click.option(
    "--candidate-langs",
    callback=comma_list,
    help="Only candidates in these languages, comma-separated [default: every indexed one].",
)
@click.option(
    "--exclude-self",
    is_flag=True,
    help="Leave out the query itself (the candidate with its key): for queries from the "
    "indexed store.",
)
@click.option(
    "--exclude-own-language",
    is_flag=True,
    help="Leave out the candidates in the query's language.",
)
@k_option(DEFAULT_HITS, "Hits per query.")
@out_option("file", "TSV of hits: query, rank, candidate, score.")
@click.option(
    "--exhaustive", is_flag=True, help="Score every indexed utterance (the reference; slow)."
)
@backend_option("the exact rerank")
@device_option("the encoder and the rerank")
@friendly_errors
@ray_options
def search_command(
    index_path: Path,
    store_path: Path | None,
    manifest: Path | None,
    model: EncoderSpec | None,
    indexed_store: Path | None,
    langs: list[str] | None,
    candidate_langs: list[str] | None,
    exclude_self: bool,
    exclude_own_language: bool,
    k: int,
    out: Path,
    exhaustive: bool,
    backend: str,
    device: str,
    place: Placement,
) -> None:
    """The K best indexed utterances for every query utterance; the queries embedded and
    searched on a Ray cluster with --ray."""
    import tempfile
    import time

    from ..embedding import embed_corpus, model_name
    from ..search import SequenceIndex, search_filtered
    from ..search.filters import in_languages
    from ..store import EmbeddingStore

    if store_path is None and manifest is None:
        raise click.UsageError("give --store, or --manifest with --model (and --store as cache)")
    if manifest is not None and model is None:
        raise click.UsageError("--manifest needs --model")
    writable_folder(out.parent, "hits")
    index = SequenceIndex.load(index_path, store=indexed_store, backend=backend, device=device)
    source = index.source
    layer = source.get("layer", DEFAULT_LAYER)
    if model is not None and source and model_name(model) != source["model"]:
        raise click.ClickException(
            f"{index_path} indexes frames of {source['model']!r}, not of {model_name(model)!r}"
        )
    with tempfile.TemporaryDirectory(prefix="seqsim-queries-") as scratch:
        store = EmbeddingStore(store_path or Path(scratch))
        if manifest is not None and model is not None:
            corpus = read_manifest(manifest, check_files=False)
            runner = place.embedding()
            report = embed_corpus(corpus, model, store, [layer], device, runner=runner)
            echo_failures(report.failures)
        stored = store.settings or {}
        if source and stored.get("model") != source["model"]:
            raise click.ClickException(
                f"the queries are frames of {stored.get('model')!r}, the index holds frames "
                f"of {source['model']!r} ({index_path})"
            )
        keys, frames = store.load(layer)
        chosen = in_languages(keys, langs, "the queries")
        started = time.perf_counter()
        scores, ids = search_filtered(
            place.index(index),
            frames.subset(chosen),
            [keys[n] for n in chosen],
            k,
            candidate_langs=candidate_langs,
            exclude_self=exclude_self,
            exclude_own_language=exclude_own_language,
            exhaustive=exhaustive,
            progress=True,
        )
        elapsed = time.perf_counter() - started
    rows = [
        f"{keys[query]}\t{rank}\t{index.keys[hit]}\t{score:.6f}"
        for query, hit_row, score_row in zip(chosen, ids, scores, strict=True)
        for rank, (hit, score) in enumerate(zip(hit_row, score_row, strict=True), start=1)
        if hit >= 0
    ]
    with_folder(out).write_text("query\trank\tcandidate\tscore\n" + "".join(r + "\n" for r in rows))
    click.echo(
        f"searched {len(chosen)} queries in {elapsed:.1f} s ({len(chosen) / elapsed:.1f} "
        f"queries/s), k={ids.shape[1]}, "
        f"{'exhaustive' if exhaustive else f'shortlist {index.candidates}'} -> {out}"
    )
