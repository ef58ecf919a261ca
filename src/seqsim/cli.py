"""The ``seqsim`` command line (reference: docs/cli.md).

Commands: ``prepare fleurs|mass`` (a manifest of a public corpus), ``embed`` (a corpus into a
resumable embedding store), ``evaluate`` (R@1 matrices over language pairs, and a report),
``index build`` and ``search`` (shortlist + exact rerank), ``pair`` (a picture of one pair's
frame similarities), ``metrics`` (the registered metric names) and ``demo`` (the bundled
corpus with the offline whisper-base). ``embed``, ``evaluate`` and ``search`` run on a Ray
cluster with ``--ray``. The library's input errors become one-line messages (exit code 1).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from ._defaults import (
    DEFAULT_CANDIDATES,
    DEFAULT_CENTROIDS,
    DEFAULT_FACTORY,
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_PER_FRAME,
    DEFAULT_RESCORE,
    DEFAULT_SHARD_SIZE,
    OFFLINE_BASE,
    RAY_EXTRA,
    RAY_SHARD_SIZE,
)

# Only light modules here: torch, transformers, numba, POT and Ray load inside the commands
# that use them, so that `seqsim --help` and every command's help print at once.
from ._version import DISTRIBUTION, __version__
from .corpus import Corpus, demo_corpus, read_manifest, write_manifest

if TYPE_CHECKING:
    from .distributed.cluster import RayCluster

DEMO_LAYER = 6
"""The demo's encoder layer: whisper-base's final output (see docs/cli.md for the ablation)."""


# The library's input errors that are not ValueErrors (CorpusError, AudioError, CheckpointError
# and the metrics' option errors are), by module. A class can only have been raised once its
# module was imported, so they are looked up among the loaded modules, never imported here.
_ERROR_CLASSES = {
    "seqsim.store.files": ("StoreError",),
    "seqsim.distributed.cluster": ("RayNotInstalledError", "RayConnectionError"),
}


def _library_errors() -> tuple[type[Exception], ...]:
    """The exception classes that :func:`_friendly_errors` shows as one line."""
    loaded = [
        getattr(sys.modules[module], name)
        for module, names in _ERROR_CLASSES.items()
        if module in sys.modules
        for name in names
    ]
    return (*loaded, ValueError)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, unwound like Ctrl-C (so finished work is flushed), exiting with code 143."""


def _friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's input errors into one-line CLI errors (exit code 1), naming options
    as the command line writes them; an interruption exits with 130 (Ctrl-C) or 143
    (SIGTERM), as shells expect, saying so."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .checks import command_line_spelling

        try:
            with command_line_spelling():
                return command(*args, **kwargs)
        except _library_errors() as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:  # a file the library did not name itself
            where = f"{error.filename}: " if error.filename else ""
            raise click.ClickException(f"{where}{error.strerror or error}") from None
        except KeyboardInterrupt as interruption:
            signal_name = "SIGTERM" if isinstance(interruption, _Terminated) else "Ctrl-C"
            click.echo(f"interrupted ({signal_name})", err=True)
            code = 128 + (
                signal.SIGTERM if isinstance(interruption, _Terminated) else signal.SIGINT
            )
            raise click.exceptions.Exit(code) from None

    return wrapper


@contextmanager
def _resumable(store_path: Path, keys: list[str]) -> Iterator[None]:
    """On an interruption while ``keys`` are embedded into the store at ``store_path``, say
    how many of them the store keeps and that the same command resumes."""
    try:
        yield
    except KeyboardInterrupt:
        from .store import EmbeddingStore, StoreError

        try:
            stored = len(set(keys) & set(EmbeddingStore(store_path).keys()))
        except StoreError:
            stored = 0
        click.echo(
            f"{stored} of {len(keys)} utterances are stored in {store_path} (finished work is "
            "kept); run the same command again to resume: they are not embedded again",
            err=True,
        )
        raise


def _ray_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that put a command on a Ray cluster; the command gets ``cluster``, a
    :class:`~seqsim.distributed.RayCluster` (closed when it returns) or None without ``--ray``."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        use_ray: bool,
        address: str | None,
        workers: int | None,
        cpus_per_worker: float,
        gpus_per_worker: float,
        **kwargs: Any,
    ) -> Any:
        if not use_ray:
            given = [
                name
                for name, value in (
                    ("--address", address),
                    ("--workers", workers),
                    ("--cpus-per-worker", cpus_per_worker != 1),
                    ("--gpus-per-worker", gpus_per_worker),
                )
                if value
            ]
            if given:
                raise click.UsageError(f"{', '.join(given)} need --ray")
            return command(*args, cluster=None, **kwargs)
        if kwargs.get("device") not in (None, "auto"):
            raise click.UsageError(
                "with --ray every worker picks its own device: CUDA where --gpus-per-worker "
                "gives it a GPU (leave --device out)"
            )
        from .distributed.cluster import RayCluster, require_ray

        require_ray()
        require_ray("ray.data")
        cluster = RayCluster(
            address=address,
            workers=workers,
            cpus_per_worker=cpus_per_worker,
            gpus_per_worker=gpus_per_worker,
        )
        with cluster:
            return command(*args, cluster=cluster, **kwargs)

    options = [
        click.option(
            "--ray",
            "use_ray",
            is_flag=True,
            help=f"Run on a Ray cluster ({RAY_EXTRA}); docs/distributed.md.",
        ),
        click.option(
            "--address",
            help="Ray cluster to join (host:port) with --ray [default: RAY_ADDRESS, else the "
            "cluster `ray start` started here, else a new local one sized to this machine].",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            help="Ray workers (encoder actors, scorers) [default: as many as the cluster's "
            "CPUs, or GPUs with --gpus-per-worker, allow].",
        ),
        click.option(
            "--cpus-per-worker",
            default=1.0,
            show_default=True,
            type=click.FloatRange(min=0, min_open=True),
            help="CPUs Ray reserves for each worker (its threads).",
        ),
        click.option(
            "--gpus-per-worker",
            default=0.0,
            show_default=True,
            type=click.FloatRange(min=0),
            help="GPUs Ray reserves for each worker (then it encodes and scores on CUDA).",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _writable_folder(folder: Path, what: str) -> None:
    """Check, before any long work, that ``folder`` can be made and written, without making
    it: a command that fails leaves no empty folder behind."""
    existing = next(
        (place for place in (folder, *folder.absolute().parents) if place.exists()), Path("/")
    )
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, f"{existing} is not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise click.ClickException(
            f"{folder}: cannot write the {what} there ({error.strerror or error})"
        ) from None


def _with_folder(out: Path) -> Path:
    """``out``, once its folder exists: made only when the result is ready to be written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


@contextmanager
def _removed_if_left_empty(folder: Path) -> Iterator[None]:
    """Remove ``folder`` (and its empty subfolders) if it is new and the block fails before
    writing anything into it."""
    existed = folder.exists()
    try:
        yield
    except BaseException:
        if not existed and folder.is_dir():
            for place in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if place.is_dir() and not place.is_symlink() and not any(place.iterdir()):
                    place.rmdir()
            if not any(folder.iterdir()):
                folder.rmdir()
        raise


def _split(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _metric_names(text: str) -> list[str]:
    """Registered metric names, lower-cased (as registered), each once, in the order given."""
    return list(dict.fromkeys(name.lower() for name in _split(text) or ["seqsim"]))


def _layers(text: str) -> list[int]:
    try:
        return [int(part) for part in _split(text) or []]
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give layer indices separated by commas, e.g. 4,5,6"
        ) from None


_OVERWRITE = click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the report of an earlier run in OUT (only the files it wrote; a store kept "
    "there stays). Without it such a folder is refused.",
)

_FIGURE_FORMAT = click.option(
    "--figure-format",
    type=click.Choice(["png", "svg", "pdf"]),
    default="png",
    show_default=True,
    help="Format of the heatmaps and layer plots.",
)


def import_plugin(name: str) -> None:
    """Import ``name``, a dotted module name or a ``.py`` file, for what it registers (a
    metric with :func:`seqsim.register_metric`, a candidate generator ...); an error names it.

    Parameters
    ----------
    name : str
        ``package.module`` (importable from the current environment) or a path ending in
        ``.py`` (imported as a module of its own; its ``if __name__ == "__main__"`` part does
        not run).

    Raises
    ------
    click.ClickException
        When the module is not found or raises while it is imported.

    Examples
    --------
    >>> from seqsim.cli import import_plugin
    >>> import_plugin("json")
    >>> import_plugin("no.such.module")
    Traceback (most recent call last):
    ...
    click.exceptions.ClickException: --import no.such.module: no module named 'no'
    """
    try:
        if name.endswith(".py"):
            path = Path(name)
            if not path.is_file():
                raise click.ClickException(f"--import {name}: file not found")
            spec = importlib.util.spec_from_file_location(f"seqsim_import_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise click.ClickException(f"--import {name}: not importable as a module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(name)
    except ModuleNotFoundError as error:
        raise click.ClickException(f"--import {name}: no module named {error.name!r}") from None
    except click.ClickException:
        raise
    except Exception as error:  # the module's own failure, shown as such
        raise click.ClickException(
            f"--import {name}: importing it failed: {type(error).__name__}: {error}"
        ) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, package_name=DISTRIBUTION, message="%(prog)s (%(package)s), version %(version)s"
)
@click.option(
    "--import",
    "imports",
    multiple=True,
    metavar="MODULE",
    help="Import a module (dotted name or .py file) first, e.g. one that registers your own "
    "metric for --metric; repeatable.",
)
def main(imports: tuple[str, ...]) -> None:
    """Speech-to-speech retrieval on Whisper encoder frames."""
    for name in imports:
        import_plugin(name)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (``kill``, a batch scheduler's time limit) unwinds like Ctrl-C, so the utterances
    finished but not yet flushed are written before the process exits (code 143)."""
    raise _Terminated


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model",
    default=OFFLINE_BASE,
    show_default=True,
    help="HF id, transformers or CTranslate2 folder, or whisper-base-offline.",
)
@click.option(
    "--layers",
    "--layer",
    "layers",
    default="-1",
    show_default=True,
    help="Hidden-state indices (comma-separated), or 'all' (--layer is the same option).",
)
@click.option(
    "--out",
    "store_path",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Store directory (created, or resumed).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Utterances per encoder pass [default: 16 on CUDA, 1 on the CPU].",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--dtype",
    type=click.Choice(["float16", "float32"]),
    default="float16",
    show_default=True,
    help="Storage dtype.",
)
@click.option(
    "--duplicates",
    type=click.Choice(["error", "keep_one"]),
    default="error",
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
@_friendly_errors
@_ray_options
def embed(
    manifest: Path,
    model: str,
    layers: str,
    store_path: Path,
    batch_size: int | None,
    device: str,
    dtype: str,
    duplicates: str,
    fail_fast: bool,
    shard_size: int | None,
    flush_seconds: float,
    cluster: RayCluster | None,
) -> None:
    """Embed every utterance of MANIFEST (TSV, CSV or JSONL: id, lang, path) into a store,
    here or (--ray) on a Ray cluster."""
    from .evaluation import embed_corpus

    # a missing audio file is one bad item, recorded and skipped like an unreadable one
    corpus = read_manifest(manifest, duplicates=duplicates, check_files=False)
    selection: list[int] | Literal["all"] = "all" if layers == "all" else _layers(layers)
    _writable_folder(store_path, "store")
    with (
        _removed_if_left_empty(store_path),
        _resumable(store_path, [u.key for u in corpus.utterances]),
    ):
        report = embed_corpus(
            corpus,
            model,
            store_path,
            selection,
            device=device,
            batch_size=batch_size,
            cluster=cluster,
            dtype=dtype,
            fail_fast=fail_fast,
            shard_size=shard_size,
            flush_seconds=flush_seconds,
        )
    click.echo(
        f"embedded {report.embedded}, already stored {report.skipped}, "
        f"failed {len(report.failures)} -> {store_path}"
    )
    _echo_embed_notes(report.changed, report.unchecked, report.short)
    _echo_failures(report.failures)
    for shard in report.set_aside:
        click.echo(f"set aside corrupt shard {shard}; its utterances were embedded again", err=True)
    if corpus.dropped_recordings:
        click.echo(
            f"kept one recording per sentence and language; dropped {corpus.dropped_recordings}"
        )


@main.command()
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Corpus to embed and evaluate (needs --model): a TSV, CSV or JSONL manifest, or a "
    "lhotse cuts/recordings .jsonl.gz.",
)
@click.option("--model", help="Model for --manifest; with --store, checked against the store's.")
@click.option(
    "--store",
    "store_path",
    type=click.Path(file_okay=False, path_type=Path),
    help="Stored embeddings (alone, or as the cache for --manifest).",
)
@click.option(
    "--metric",
    default="seqsim",
    show_default=True,
    help="Registered metric name(s), comma-separated: a comparison table for several.",
)
@click.option("--langs", help="Languages, comma-separated (default: all in the corpus).")
@click.option(
    "--layers",
    "--layer",
    "layer_text",
    default="-1",
    show_default=True,
    help="Encoder layer(s), comma-separated: an ablation plot for several (--layer is the "
    "same option).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report directory; without --store, embeddings are kept in OUT/store.",
)
@click.option(
    "--normalization",
    type=click.Choice(["none", "csls", "margin"]),
    default="none",
    show_default=True,
    help="Hubness correction of the scores (CSLS or ratio margin over --k neighbours); the "
    "raw measures are reported too.",
)
@click.option(
    "--k",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Neighbours for csls / margin.",
)
@click.option("--center", is_flag=True, help="Subtract each language's mean frame first.")
@click.option(
    "--bootstrap",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bootstrap samples for R@1 confidence intervals (0: none).",
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "torch", "numba", "triton"]),
    default="auto",
    show_default=True,
    help="Backend of the metrics (auto: torch on CUDA when there is a GPU, else numba).",
)
@click.option("--device", default=None, help="Device for the encoder and the torch backend.")
@click.option(
    "--search",
    type=click.Choice(["exhaustive", "index"]),
    default="exhaustive",
    show_default=True,
    help="Score every candidate, or search a SequenceIndex (also among all languages pooled).",
)
@click.option(
    "--candidates",
    default=DEFAULT_CANDIDATES,
    show_default=True,
    type=click.IntRange(min=1),
    help="Shortlist length per query with --search index.",
)
@click.option(
    "--agreement-sample",
    type=click.IntRange(min=1),
    help="Queries per pair checked against exhaustive search with --search index (all).",
)
@click.option(
    "--recordings",
    type=click.Choice(["all", "one"]),
    default="all",
    show_default=True,
    help="Sentences with several recordings per language: all (multi-positive: any recording "
    "of the sentence is a hit) or one each, chosen with --seed (docs/corpora.md).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed of --recordings one and of the bootstrap.",
)
@_FIGURE_FORMAT
@_OVERWRITE
@_friendly_errors
@_ray_options
def evaluate(
    manifest: Path | None,
    model: str | None,
    store_path: Path | None,
    metric: str,
    langs: str | None,
    layer_text: str,
    out: Path,
    normalization: str,
    k: int,
    center: bool,
    bootstrap: int,
    backend: str,
    device: str | None,
    search: str,
    candidates: int,
    agreement_sample: int | None,
    recordings: str,
    seed: int,
    figure_format: str,
    overwrite: bool,
    cluster: RayCluster | None,
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
        _metric_names(metric),
        _layers(layer_text),
        _split(langs),
        out,
        figure_format,
        overwrite,
        normalization=normalization,
        k=k,
        center=center,
        bootstrap=bootstrap,
        backend=backend,
        device=device,
        search=search,
        candidates=candidates,
        agreement_sample=agreement_sample,
        recordings=recordings,
        seed=seed,
        cluster=cluster,
    )


@main.command()
@click.option(
    "--out",
    default="seqsim-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report directory; the embeddings are kept in OUT/store.",
)
@click.option(
    "--metric",
    default="seqsim",
    show_default=True,
    help="Registered metric name(s), comma-separated.",
)
@click.option(
    "--layers",
    "--layer",
    "layer_text",
    default=str(DEMO_LAYER),
    show_default=True,
    help="Encoder layer(s) of whisper-base, comma-separated (--layer is the same option).",
)
@_FIGURE_FORMAT
@_OVERWRITE
@_friendly_errors
def demo(out: Path, metric: str, layer_text: str, figure_format: str, overwrite: bool) -> None:
    """Evaluate the bundled demo corpus (40 sentences x en, fr, de, es, it) with the offline
    whisper-base; no network needed."""
    _run_evaluation(
        demo_corpus(),
        OFFLINE_BASE,
        out / "store",
        _metric_names(metric),
        _layers(layer_text),
        None,
        out,
        figure_format,
        overwrite,
    )


@main.group(name="prepare")
def prepare_group() -> None:
    """Write the manifest of a public corpus from its files on disk (docs/corpora.md)."""


_MANIFEST_OUT = click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Manifest to write (.tsv, .csv or .jsonl), for embed and evaluate --manifest.",
)


@prepare_group.command(name="fleurs")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--langs", required=True, help="FLEURS languages, comma-separated: en_us,fr_fr.")
@_MANIFEST_OUT
@click.option("--splits", default="dev,test", show_default=True, help="Splits to combine.")
@click.option(
    "--recordings",
    type=click.Choice(["one", "all"]),
    default="one",
    show_default=True,
    help="One recording per sentence and language (seeded: the paper's protocol), or all "
    "(multi-positive evaluation).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed of the choice of --recordings one.",
)
@_friendly_errors
def prepare_fleurs_command(
    root: Path, langs: str, out: Path, splits: str, recordings: Literal["one", "all"], seed: int
) -> None:
    """FLEURS as distributed: ROOT/LANG/SPLIT.tsv, audio extracted to ROOT/LANG/audio/SPLIT/."""
    from .recipes import prepare_fleurs

    corpus = prepare_fleurs(
        root, _split(langs) or [], splits=_split(splits) or [], recordings=recordings, seed=seed
    )
    _write_prepared(corpus, out)


@prepare_group.command(name="mass")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--langs", help="Language folders, comma-separated (default: all in ROOT).")
@_MANIFEST_OUT
@_friendly_errors
def prepare_mass_command(root: Path, langs: str | None, out: Path) -> None:
    """MaSS as verse-aligned folders: ROOT/LANG/VERSE.wav (and VERSE.txt)."""
    from .recipes import prepare_mass

    _write_prepared(prepare_mass(root, _split(langs)), out)


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


@main.group(name="index")
def index_group() -> None:
    """Build a search index over a store (then query it with `seqsim search`)."""


@index_group.command(name="build")
@click.option(
    "--store",
    "store_path",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Embedding store whose utterances become searchable.",
)
@click.option("--layer", default=-1, show_default=True, help="Encoder layer of the store.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Index file (replaced atomically).",
)
@click.option("--metric", default="seqsim", show_default=True, help="Metric of the exact rerank.")
@click.option(
    "--generator",
    type=click.Choice(["centroids", "frames", "mean"]),
    default="centroids",
    show_default=True,
    help="Shortlist: SeqSim on centroid-quantised frames, frame-level neighbours, or means.",
)
@click.option(
    "--candidates",
    default=DEFAULT_CANDIDATES,
    show_default=True,
    type=click.IntRange(min=1),
    help="Shortlist length per query (reranked exactly).",
)
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
@_friendly_errors
def build_index(
    store_path: Path,
    layer: int,
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

    from .search import SequenceIndex

    _writable_folder(out.parent, "index")
    by_generator: dict[str, dict[str, Any]] = {
        "centroids": {"centroids": centroid_count, "rescore": rescore},
        "frames": {"per_frame": per_frame, "factory": factory},
        "mean": {"factory": factory},
    }
    options = by_generator[generator]
    started = time.perf_counter()
    index = SequenceIndex.from_store(
        store_path, layer, metric=metric, generator=generator, candidates=candidates, **options
    )
    index.save(_with_folder(out))
    click.echo(
        f"indexed {len(index)} utterances of {store_path} (layer {index.source['layer']}) in "
        f"{time.perf_counter() - started:.1f} s -> {out}"
    )


@main.command()
@click.argument("index_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--store",
    "store_path",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store of the queries (alone, or as the cache for --manifest).",
)
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), help="Queries.")
@click.option("--model", help="Model for --manifest (must be the index's).")
@click.option(
    "--indexed-store",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the store that the index was built from is now, if it was moved [default: "
    "where it was built, else the same place relative to the index file].",
)
@click.option("--langs", help="Only queries in these languages, comma-separated.")
@click.option(
    "--k", default=10, show_default=True, type=click.IntRange(min=1), help="Hits per query."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TSV of hits: query, rank, candidate, score.",
)
@click.option(
    "--exhaustive", is_flag=True, help="Score every indexed utterance (the reference; slow)."
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "torch", "numba", "triton"]),
    default="auto",
    show_default=True,
    help="Backend of the exact rerank (auto: torch on CUDA when there is a GPU, else numba).",
)
@click.option("--device", default=None, help="Device for the encoder and the rerank.")
@_friendly_errors
@_ray_options
def search(
    index_path: Path,
    store_path: Path | None,
    manifest: Path | None,
    model: str | None,
    indexed_store: Path | None,
    langs: str | None,
    k: int,
    out: Path,
    exhaustive: bool,
    backend: str,
    device: str | None,
    cluster: RayCluster | None,
) -> None:
    """The K best indexed utterances for every query utterance; the queries embedded and
    searched on a Ray cluster with --ray."""
    import tempfile
    import time

    import numpy as np

    from .corpus import Utterance
    from .evaluation import embed_corpus
    from .search import SequenceIndex
    from .store import EmbeddingStore

    if store_path is None and manifest is None:
        raise click.UsageError("give --store, or --manifest with --model (and --store as cache)")
    if manifest is not None and model is None:
        raise click.UsageError("--manifest needs --model")
    _writable_folder(out.parent, "hits")
    index = SequenceIndex.load(index_path, store=indexed_store, backend=backend, device=device)
    source = index.source
    if model is not None and source and model != source["model"]:
        raise click.ClickException(
            f"{index_path} indexes frames of {source['model']!r}, not of {model!r}"
        )
    with tempfile.TemporaryDirectory(prefix="seqsim-queries-") as scratch:
        store = EmbeddingStore(store_path or Path(scratch))
        if manifest is not None and model is not None:
            corpus = read_manifest(manifest, check_files=False)
            layer = [source.get("layer", -1)]
            report = embed_corpus(corpus, model, store, layer, device, cluster=cluster)
            _echo_failures(report.failures)
        stored = store.settings or {}
        if source and stored.get("model") != source["model"]:
            raise click.ClickException(
                f"the queries are frames of {stored.get('model')!r}, the index holds frames "
                f"of {source['model']!r} ({index_path})"
            )
        keys, frames = store.load(source.get("layer", -1))
        wanted = set(_split(langs) or [])
        chosen = [
            n for n, key in enumerate(keys) if not wanted or Utterance.from_key(key).lang in wanted
        ]
        if not chosen:
            raise click.ClickException(f"no query utterance in {', '.join(sorted(wanted))}")
        started = time.perf_counter()
        scores, ids = index.search(
            frames.subset(np.array(chosen)),
            k,
            exhaustive=exhaustive,
            progress=True,
            cluster=cluster,
        )
        elapsed = time.perf_counter() - started
    rows = [
        f"{keys[query]}\t{rank}\t{index.keys[hit]}\t{score:.6f}"
        for query, hit_row, score_row in zip(chosen, ids, scores, strict=True)
        for rank, (hit, score) in enumerate(zip(hit_row, score_row, strict=True), start=1)
        if hit >= 0
    ]
    _with_folder(out).write_text(
        "query\trank\tcandidate\tscore\n" + "".join(r + "\n" for r in rows)
    )
    click.echo(
        f"searched {len(chosen)} queries in {elapsed:.1f} s ({len(chosen) / elapsed:.1f} "
        f"queries/s), k={ids.shape[1]}, "
        f"{'exhaustive' if exhaustive else f'shortlist {index.candidates}'} -> {out}"
    )


@main.command(name="metrics")
def list_metrics() -> None:
    """List the registered metric names."""
    from .metrics import available_metrics

    for name in available_metrics():
        click.echo(name)


def _echo_failures(failures: list[dict[str, str]]) -> None:
    for failure in failures:
        click.echo(f"skipped: {failure['reason']}", err=True)


def _echo_embed_notes(
    changed: list[dict[str, str]], unchecked: list[str], short: list[dict[str, str]]
) -> None:
    """What an embed run did beyond embedding: audio changed under stored keys (embedded
    again), keys reused unchecked, and implausibly short audio."""
    if changed:
        click.echo(
            f"embedded again {len(changed)} utterance(s) whose audio changed since they were "
            "stored (their old frames dropped):",
            err=True,
        )
        for change in changed[:10]:
            click.echo(
                f"  {change['key']}: was {change['stored']}, now {change['given']}", err=True
            )
        if len(changed) > 10:
            click.echo(f"  ... and {len(changed) - 10} more", err=True)
    if unchecked:
        click.echo(
            f"reused {len(unchecked)} stored utterance(s) whose audio could not be checked "
            f"(no record of it, or its file is gone), e.g. {', '.join(unchecked[:3])}",
            err=True,
        )
    for note in short:
        click.echo(f"warning: {note['reason']}", err=True)


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
    from .evaluation import check_languages, evaluate_grid
    from .report import interval_table, markdown_table, search_summary, write_reports
    from .run_folder import check_report_folder

    check_languages(langs)
    check_report_folder(out, overwrite=overwrite)
    _writable_folder(out, "report")
    keys = [u.key for u in corpus.utterances] if corpus is not None and model else []
    with _removed_if_left_empty(out), _resumable(store_path, keys):
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
        _echo_embed_notes(embedding["changed"], embedding["unchecked"], embedding["short"])
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
    _echo_failures(primary.failures)
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


@main.command()
@click.argument("audio_a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("audio_b", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The picture: .png, .svg or .pdf.",
)
@click.option(
    "--model",
    default=OFFLINE_BASE,
    show_default=True,
    help="HF id, transformers or CTranslate2 folder, or whisper-base-offline.",
)
@click.option("--layer", default=-1, show_default=True, help="Encoder layer (hidden-state index).")
@click.option(
    "--words-a",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Words of AUDIO_A: TSV of word, start, end in seconds (docs/pair.md).",
)
@click.option(
    "--words-b",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Words of AUDIO_B, likewise.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@_friendly_errors
def pair(
    audio_a: Path,
    audio_b: Path,
    out: Path,
    model: str,
    layer: int,
    words_a: Path | None,
    words_b: Path | None,
    device: str,
) -> None:
    """Picture of one pair's frame similarities (AUDIO_A up, AUDIO_B across): cosines, every
    frame's best match both ways, SeqSim P/R/F1, and optional word boundaries."""
    from . import audio as audio_io
    from .embedder import WhisperEmbedder
    from .pair import pair_similarity, picture_format, plot_pair, read_words

    picture = picture_format(out)
    _writable_folder(out.parent, "picture")
    samples = [audio_io.load(path) for path in (audio_a, audio_b)]
    words = [
        read_words(path, duration=len(audio) / audio_io.SAMPLE_RATE) if path else []
        for path, audio in zip((words_a, words_b), samples, strict=True)
    ]
    embedder = WhisperEmbedder(model, layers=layer, device=device)
    frames = [e.frames for e in embedder.embed([(s, audio_io.SAMPLE_RATE) for s in samples])]
    similarity = pair_similarity(*frames)
    labels = [
        f"{path.parent.name}/{path.name}" if path.parent.name else path.name
        for path in (audio_a, audio_b)
    ]
    figure = plot_pair(
        similarity,
        label_a=labels[0],
        label_b=labels[1],
        words_a=words[0],
        words_b=words[1],
        title=f"{embedder.model_name}, layer {embedder.layers[0]}",
    )
    figure.savefig(_with_folder(out), format=picture, dpi=110)
    click.echo(
        f"SeqSim P {similarity.precision:.4f}  R {similarity.recall:.4f}  "
        f"F1 {similarity.f1:.4f} ({len(frames[0])} x {len(frames[1])} frames) -> {out}"
    )
