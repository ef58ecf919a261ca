"""``seqsim mine``: the pairs of two collections of speech that are translations of each other
(:func:`seqsim.mine`), written as a TSV of keys and audio paths; scored against gold pairs and
calibrated on a labelled set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..mining.defaults import (
    DEFAULT_DIRECTION,
    DEFAULT_EXHAUSTIVE_BELOW,
    DEFAULT_KEEP,
    DEFAULT_MARGIN,
    DEFAULT_MINING_NEIGHBOURS,
    DEFAULT_MINING_SEARCH,
    DIRECTIONS,
    SEARCHES,
)
from ..ranking import MARGINS
from .errors import friendly_errors
from .options import (
    backend_option,
    candidates_option,
    comma_list,
    device_option,
    k_option,
    layer_option,
    metrics_option,
    model_option,
    out_option,
    ray_options,
    store_option,
)
from .output import writable_folder

if TYPE_CHECKING:
    import pandas as pd

    from ..encoders import EncoderSpec
    from ..placement import Placement

PAIRS_FILE = "pairs.tsv"
MANIFEST_FILE = "manifest.tsv"
BLOCKS_FOLDER = "blocks"


def _side_option(name: str) -> Any:
    return click.option(
        f"--{name}",
        required=True,
        type=click.Path(exists=True, path_type=Path),
        help=f"The {name}: an embedding store's folder, or a manifest (embedded into --store "
        "with --model).",
    )


@click.command(name="mine")
@_side_option("sources")
@_side_option("targets")
@click.option(
    "--source-langs", callback=comma_list, help="Only sources in these languages, comma-separated."
)
@click.option(
    "--target-langs", callback=comma_list, help="Only targets in these languages, comma-separated."
)
@out_option(
    "folder",
    f"Folder for {PAIRS_FILE} (and {MANIFEST_FILE}, the evaluation, and the blocks of "
    "neighbours that an interrupted run resumes from).",
)
@store_option("Store that manifest sides are embedded into (resumable) [default: OUT/store].")
@model_option()
@layer_option("Encoder layer: the stores', or the one manifests are embedded at.")
@metrics_option("Metric of the raw scores (one registered name).")
@k_option(DEFAULT_MINING_NEIGHBOURS, "Neighbours averaged in the margins (LASER's 4, stopes' 16).")
@click.option(
    "--margin",
    type=click.Choice(MARGINS),
    default=DEFAULT_MARGIN,
    show_default=True,
    help="ratio (score / mean of the neighbour means), distance (score - that mean), absolute "
    "(the score), or csls.",
)
@click.option(
    "--direction",
    type=click.Choice(DIRECTIONS),
    default=DEFAULT_DIRECTION,
    show_default=True,
    help="Pairs found either way, both ways, from the sources or from the targets.",
)
@click.option(
    "--keep",
    default=DEFAULT_KEEP,
    show_default=True,
    type=click.IntRange(min=1),
    help="Candidates each utterance keeps in its own direction (at most --k).",
)
@click.option("--threshold", type=float, help="Keep pairs whose margin is at least this.")
@click.option(
    "--max-per-utterance",
    type=click.IntRange(min=1),
    help="At most this many pairs per source and per target, best first (1: one-to-one).",
)
@click.option(
    "--search",
    "mining_search",
    type=click.Choice(SEARCHES),
    default=DEFAULT_MINING_SEARCH,
    show_default=True,
    help="Score every pair, or search an index each way (auto: exhaustive below "
    "--exhaustive-below pairs).",
)
@click.option(
    "--exhaustive-below",
    default=DEFAULT_EXHAUSTIVE_BELOW,
    show_default=True,
    type=click.IntRange(min=0),
    help="Pairs (sources x targets) below which --search auto scores every pair.",
)
@candidates_option("Shortlist length per query of the index (reranked exactly).")
@click.option(
    "--evaluate",
    "score_gold",
    is_flag=True,
    help="Score the pairs against the gold pairs: utterances of the same sentence (a "
    "manifest's sentence column, else the id of a store key).",
)
@click.option(
    "--calibrate",
    is_flag=True,
    help="The inputs are a labelled development set: find the F1-optimal threshold (written "
    "to threshold.json; give it as --threshold on other data). Implies --evaluate.",
)
@backend_option("the metric")
@device_option("the encoder and the metric")
@friendly_errors
@ray_options
def mine_command(
    sources: Path,
    targets: Path,
    source_langs: list[str] | None,
    target_langs: list[str] | None,
    out: Path,
    store_path: Path | None,
    model: EncoderSpec,
    layer: int,
    metrics: list[Any],
    k: int,
    margin: str,
    direction: str,
    keep: int,
    threshold: float | None,
    max_per_utterance: int | None,
    mining_search: str,
    exhaustive_below: int,
    candidates: int,
    score_gold: bool,
    calibrate: bool,
    backend: str,
    device: str,
    place: Placement,
) -> None:
    """Mine the pairs of SOURCES and TARGETS that are translations of each other, best margin
    first; rerun the same command to resume an interrupted run."""
    import time

    from ..mining import mine, mined_corpus

    if len(metrics) != 1:
        raise click.BadParameter("give one metric", param_hint="--metric")
    if calibrate and threshold is not None:
        raise click.UsageError("--calibrate finds the threshold: leave --threshold out")
    writable_folder(out, "pairs")
    started = time.perf_counter()
    pairs = mine(
        sources,
        targets,
        metric=place.metric(metrics[0]),
        k=k,
        margin=margin,  # type: ignore[arg-type]
        direction=direction,
        keep=keep,
        threshold=threshold,
        max_per_utterance=max_per_utterance,
        search=mining_search,
        exhaustive_below=exhaustive_below,
        candidates=candidates,
        layer=layer,
        source_langs=source_langs,
        target_langs=target_langs,
        model=model,
        store=store_path or out / "store",
        runner=place.embedding(),
        checkpoint=out / BLOCKS_FOLDER,
        progress=True,
    )
    elapsed = time.perf_counter() - started
    _write_pairs(pairs, out / PAIRS_FILE)
    click.echo(f"mined {len(pairs)} pairs in {elapsed:.1f} s (margin {margin}, k={k}, "
               f"{direction}) -> {out / PAIRS_FILE}")  # fmt: skip
    if {"source_path", "target_path"} <= set(pairs.columns):
        from ..corpus import write_manifest
        from ..mining import MiningError

        try:
            click.echo(f"manifest -> {write_manifest(mined_corpus(pairs), out / MANIFEST_FILE)}")
        except MiningError as why:
            click.echo(f"no {MANIFEST_FILE}: {why}", err=True)
    if score_gold or calibrate:
        gold = _gold(sources, targets, source_langs, target_langs)
        _evaluate(pairs, gold, threshold, out, calibrate)


def _write_pairs(pairs: pd.DataFrame, path: Path) -> None:
    """The pairs as a TSV: keys (and audio paths), raw score and margin, best margin first."""
    columns = [c for c in ("source_key", "target_key", "source_path", "target_path") if c in pairs]
    pairs[[*columns, "score", "margin"]].to_csv(path, sep="\t", index=False, float_format="%.6f")


def _sentences(side: Path, langs: list[str] | None) -> dict[str, str]:
    """The sentence of every utterance of a side by key: a manifest's, or a store key's id."""
    from ..corpus import Utterance, read_manifest
    from ..search.filters import in_languages
    from ..store import EmbeddingStore

    if side.is_dir():
        keys = EmbeddingStore(side).keys()
        sentences = [Utterance.from_key(key).id for key in keys]
    else:
        utterances = read_manifest(side, check_files=False).utterances
        keys, sentences = [u.key for u in utterances], [u.sentence for u in utterances]
    return {keys[n]: sentences[n] for n in in_languages(keys, langs, str(side))}


def _gold(
    sources: Path, targets: Path, source_langs: list[str] | None, target_langs: list[str] | None
) -> set[tuple[str, str]]:
    """The gold pairs by key: a source and a target of the same sentence (not the same key)."""
    from ..mining import gold_pairs

    said = _sentences(sources, source_langs)
    heard = _sentences(targets, target_langs)
    source_keys, target_keys = list(said), list(heard)
    return {
        (source_keys[s], target_keys[t])
        for s, t in gold_pairs(list(said.values()), list(heard.values()))
        if source_keys[s] != target_keys[t]
    }


def _evaluate(
    pairs: pd.DataFrame,
    gold: set[tuple[str, str]],
    threshold: float | None,
    out: Path,
    calibrate: bool,
) -> None:
    """BUCC scores at the threshold given and at the best one, the precision-recall plot, and
    (``calibrate``) the best threshold written to ``threshold.json``."""
    from ..mining import best_threshold, mining_scores, plot_precision_recall, precision_recall

    on = ("source_key", "target_key")
    given = mining_scores(pairs, gold, threshold, on)
    best = best_threshold(pairs, gold, on)
    plot_precision_recall(precision_recall(pairs, gold, on), out / "precision_recall.png", best)
    scores = {"at_threshold": given.as_dict(), "best": best.as_dict()}
    (out / "evaluation.json").write_text(json.dumps(scores, indent=2) + "\n")
    for label, at in (("as mined", given), ("best threshold", best)):
        click.echo(
            f"{label}: margin >= {at.threshold}: {at.mined} pairs, {at.correct} of {at.gold} "
            f"gold; P {at.precision:.3f} R {at.recall:.3f} F1 {at.f1:.3f}"
        )
    if calibrate:
        (out / "threshold.json").write_text(json.dumps({"threshold": best.threshold}) + "\n")
        click.echo(f"calibrated threshold: {best.threshold} -> {out / 'threshold.json'}")
