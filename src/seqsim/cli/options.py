"""The options that several commands take, each declared once here. Their choices and
defaults are read from the library (:mod:`seqsim._defaults`, which imports nothing, and the
registries, read when a command runs); where commands use an option differently, the help
text is a parameter."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from .._defaults import (
    BACKEND_CHOICES,
    CLI_DEFAULT_MODEL,
    DEFAULT_BACKEND,
    DEFAULT_CANDIDATES,
    DEFAULT_DEVICE,
    DEFAULT_LAYER,
    DEFAULT_METRIC,
    DEFAULT_PICTURE_FORMAT,
    DEFAULT_SEED,
    PICTURE_FORMATS,
    RAY_EXTRA,
    RECORDINGS,
)

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]


def _split(text: str | None) -> list[str] | None:
    """The comma-separated parts of ``text``, stripped, empty ones dropped; None for none."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def comma_list(ctx: click.Context, param: click.Parameter, text: str | None) -> list[str] | None:
    """Option callback: a comma-separated value as a list (None when not given)."""
    return _split(text)


def _metric_names(ctx: click.Context, param: click.Parameter, text: str) -> list[str]:
    """Registered metric names, lower-cased (as registered), each once, in the order given."""
    return list(dict.fromkeys(name.lower() for name in _split(text) or [DEFAULT_METRIC]))


class LayerList(click.ParamType):
    """Encoder layers (hidden-state indices) separated by commas, as a list of ints; with
    ``allow_all``, also ``all``."""

    name = "layers"

    def __init__(self, *, allow_all: bool = False) -> None:
        self.allow_all = allow_all

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[int] | Literal["all"]:
        if isinstance(value, list) or (self.allow_all and value == "all"):
            return value
        try:
            return [int(part) for part in _split(str(value)) or []]
        except ValueError:
            self.fail(f"{value!r}: give layer indices separated by commas, e.g. 4,5,6", param, ctx)


class RegistryChoice(click.Choice[str]):
    """A choice among the names of a registry, read when a value is checked, so that names
    registered by ``seqsim --import plugin.py`` count and ``--help`` imports nothing (it shows
    ``metavar``, and the help text says where the names come from)."""

    def __init__(self, names: Callable[[], Iterable[str]], metavar: str) -> None:
        self._names = names
        self._metavar = metavar
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]  # read, never set
        return tuple(self._names())

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return self._metavar


def _key_values(
    ctx: click.Context, param: click.Parameter, texts: tuple[str, ...]
) -> dict[str, Any]:
    """Option callback: ``KEY=VALUE`` texts as a dict; a value that reads as JSON (``true``,
    ``3``, ``0.5``, ``null``) is that value, any other a string."""
    options: dict[str, Any] = {}
    for text in texts:
        key, equals, value = text.partition("=")
        if not equals or not key.strip():
            raise click.BadParameter(f"{text!r}: give KEY=VALUE", ctx, param)
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def model_option(help: str | None = None, *, several: bool = False) -> Decorator[Any]:
    """``--model``, ``--family`` and ``--encoder-option``; the command gets ``model``, an
    :class:`~seqsim.encoders.EncoderSpec` of the three (with ``several``, a list of them, one
    per comma-separated ``--model``, sharing the family and options). Without ``help``,
    ``--model`` has the CLI's default model; given ``help``, it has none (the store's model is
    meant then) and the command gets None where it is left out."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(
            *args: Any,
            model: str | None,
            family: str | None,
            encoder_options: dict[str, Any],
            **kwargs: Any,
        ) -> Any:
            if model is None:
                given = [
                    n for n, v in (("--family", family), ("--encoder-option", encoder_options)) if v
                ]
                if given:
                    raise click.UsageError(f"{', '.join(given)} need --model")
                return command(*args, model=None, **kwargs)
            from ..encoders import EncoderSpec

            specs = [EncoderSpec(name, family, encoder_options) for name in _split(model) or []]
            if not several and len(specs) != 1:
                raise click.BadParameter(f"{model!r}: give one model", param_hint="--model")
            return command(*args, model=specs if several else specs[0], **kwargs)

        options = [
            click.option(
                "--model",
                default=CLI_DEFAULT_MODEL if help is None else None,
                show_default=help is None,
                help=help
                or "Encoder: a Hugging Face id, a transformers or CTranslate2 folder, "
                "whisper-base-offline, or a registered name (docs/encoders.md).",
            ),
            click.option(
                "--family",
                type=RegistryChoice(_encoder_families, "FAMILY"),
                help="Encoder family of --model [default: read from the model's config]; "
                "registered families, --import adds yours.",
            ),
            click.option(
                "--encoder-option",
                "encoder_options",
                multiple=True,
                callback=_key_values,
                metavar="KEY=VALUE",
                help="An option of the encoder family (repeatable), e.g. context=audio for "
                "Whisper's short context.",
            ),
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def _encoder_families() -> list[str]:
    """The registered encoder families (imports the encoders when a value is checked)."""
    from ..encoders import available_encoders

    return available_encoders()


def device_option(used_by: str) -> Decorator[Any]:
    """``--device`` of ``used_by`` (e.g. "the encoder")."""
    return click.option(
        "--device",
        default=DEFAULT_DEVICE,
        show_default=True,
        help=f"Device for {used_by}: auto (CUDA when there is a GPU, else the CPU), cpu, cuda "
        "or cuda:N.",
    )


def backend_option(used_by: str) -> Decorator[Any]:
    """``--backend`` of ``used_by`` (e.g. "the metrics")."""
    return click.option(
        "--backend",
        type=click.Choice(BACKEND_CHOICES),
        default=DEFAULT_BACKEND,
        show_default=True,
        help=f"Backend of {used_by} (auto: torch on CUDA when there is a GPU, else numba).",
    )


def langs_option(help: str, *, required: bool = False) -> Decorator[Any]:
    """``--langs``, comma-separated, given to the command as a list (None when left out)."""
    return click.option("--langs", required=required, callback=comma_list, help=help)


def out_option(
    kind: Literal["folder", "file"], help: str, *, dest: str = "out", default: str | None = None
) -> Decorator[Any]:
    """``--out``, a folder or a file; required unless it has a ``default``."""
    path = click.Path(file_okay=kind == "file", dir_okay=kind == "folder", path_type=Path)
    if default is None:  # no default at all: click takes an explicit None for one
        return click.option("--out", dest, required=True, type=path, help=help)
    return click.option("--out", dest, default=default, show_default=True, type=path, help=help)


def store_option(help: str, *, required: bool = False) -> Decorator[Any]:
    """``--store``, an embedding store's folder, given to the command as ``store_path``."""
    return click.option(
        "--store",
        "store_path",
        required=required,
        type=click.Path(file_okay=False, path_type=Path),
        help=help,
    )


def manifest_option(help: str) -> Decorator[Any]:
    """``--manifest``, a corpus's manifest file."""
    return click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), help=help)


def metrics_option(help: str) -> Decorator[Any]:
    """``--metric`` (registered names, comma-separated) and ``--metric-option``; the command
    gets ``metrics``, a list of :class:`~seqsim.metrics.Metric` objects with those options,
    on the command's ``--backend`` and ``--device`` where it has them."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(
            *args: Any, metrics: list[str], metric_options: dict[str, Any], **kwargs: Any
        ) -> Any:
            run = {k: kwargs[k] for k in ("backend", "device") if kwargs.get(k) is not None}
            return command(*args, metrics=_metrics(metrics, metric_options, run), **kwargs)

        options = [
            click.option(
                "--metric",
                "metrics",
                default=DEFAULT_METRIC,
                show_default=True,
                callback=_metric_names,
                help=help,
            ),
            click.option(
                "--metric-option",
                "metric_options",
                multiple=True,
                callback=_key_values,
                metavar="[METRIC.]KEY=VALUE",
                help="An option of the metrics (repeatable), e.g. window=10 for DTW's band or "
                "ot.reg=0.1; without METRIC. it goes to every chosen metric that takes it "
                "(docs/metrics.md lists them).",
            ),
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def _metrics(names: list[str], options: dict[str, Any], run: dict[str, Any]) -> list[Any]:
    """The metrics ``names`` with ``options`` (``KEY`` for every one that declares it,
    ``METRIC.KEY`` for one), checked against what each declares (:func:`~seqsim.metrics.
    metric_options`); a usage error names an option none takes and what they take."""
    from ..backends import resolve_backend
    from ..metrics import get_metric, metric_options

    hint = "--metric-option"
    try:
        declared = {name: metric_options(name) for name in names}
    except ValueError as error:  # an unknown name, before anything is loaded
        raise click.BadParameter(str(error), param_hint="--metric") from None
    for given in (["device"], ["backend", "device"]):  # the device alone, then the pair
        if all(key in run for key in given):
            try:
                resolve_backend(**{key: run[key] for key in given})
            except ValueError as error:
                hints = [f"--{key}" for key in given]
                raise click.BadParameter(str(error), param_hint=hints) from None
    chosen: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in options.items():
        metric, dot, option = key.rpartition(".")
        if dot and metric.lower() not in chosen:
            raise click.BadParameter(f"{key}: {metric!r} is not among --metric", param_hint=hint)
        takers = [metric.lower()] if dot else [n for n in names if option in declared[n]]
        takers = [name for name in takers if option in declared[name]]
        if not takers:
            takes = "; ".join(f"{n}: {', '.join(declared[n]) or 'no options'}" for n in names)
            raise click.BadParameter(f"{key}: no chosen metric takes it ({takes})", param_hint=hint)
        for name in takers:
            chosen[name][option] = value
    try:
        return [get_metric(name, **run, **chosen[name]) for name in names]
    except (TypeError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint=hint) from None


def metric_option(help: str) -> Decorator[Any]:
    """``--metric``, one registered metric name."""
    return click.option("--metric", default=DEFAULT_METRIC, show_default=True, help=help)


def layers_option(
    help: str, *, default: int = DEFAULT_LAYER, allow_all: bool = False
) -> Decorator[Any]:
    """``--layers`` (or ``--layer``), comma-separated, given as a list ``layers``."""
    return click.option(
        "--layers",
        "--layer",
        "layers",
        type=LayerList(allow_all=allow_all),
        default=str(default),
        show_default=True,
        help=f"{help} (--layer is the same option).",
    )


def layer_option(
    help: str, *, default: int | None = DEFAULT_LAYER, show_default: bool | str = True
) -> Decorator[Any]:
    """``--layer``, one encoder layer (None as ``default``: the command picks one, as
    ``show_default`` says)."""
    return click.option("--layer", type=int, default=default, show_default=show_default, help=help)


def k_option(default: int, help: str) -> Decorator[Any]:
    """``--k``, a count of at least 1."""
    return click.option(
        "--k", default=default, show_default=True, type=click.IntRange(min=1), help=help
    )


def candidates_option(help: str) -> Decorator[Any]:
    """``--candidates``, the shortlist length per query of a search index."""
    return click.option(
        "--candidates",
        default=DEFAULT_CANDIDATES,
        show_default=True,
        type=click.IntRange(min=1),
        help=help,
    )


def recordings_option(default: str, help: str) -> Decorator[Any]:
    """``--recordings``: all recordings of a sentence per language, or one each."""
    return click.option(
        "--recordings",
        type=click.Choice(RECORDINGS),
        default=default,
        show_default=True,
        help=help,
    )


def seed_option(help: str) -> Decorator[Any]:
    """``--seed``, a non-negative integer."""
    return click.option(
        "--seed", default=DEFAULT_SEED, show_default=True, type=click.IntRange(min=0), help=help
    )


def figure_format_option() -> Decorator[Any]:
    """``--figure-format`` of a report's pictures."""
    return click.option(
        "--figure-format",
        type=click.Choice(PICTURE_FORMATS),
        default=DEFAULT_PICTURE_FORMAT,
        show_default=True,
        help="Format of the heatmaps and layer plots.",
    )


def overwrite_option() -> Decorator[Any]:
    """``--overwrite`` a report folder."""
    return click.option(
        "--overwrite",
        is_flag=True,
        help="Replace the report of an earlier run in OUT (only the files it wrote; a store "
        "kept there stays). Without it such a folder is refused.",
    )


def html_report_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--copy-audio`` and ``--pictures``, what ``report.html`` carries; the command gets
    ``html``, a dict of :func:`~seqsim.report.write_reports`'s ``copy_audio`` and
    ``pictures``."""

    @functools.wraps(command)
    def wrapper(*args: Any, copy_audio: bool, pictures: int, **kwargs: Any) -> Any:
        return command(*args, html={"copy_audio": copy_audio, "pictures": pictures}, **kwargs)

    options = [
        click.option(
            "--copy-audio",
            is_flag=True,
            help="Copy the audio of every utterance report.html lists into OUT/audio/, so that "
            "the report moves with its sound (by default it links to the audio where it lies).",
        ),
        click.option(
            "--pictures",
            default=0,
            show_default=True,
            type=click.IntRange(min=0),
            help="Pre-render the pair picture of the N worst failures of each language pair "
            "for report.html (about 30 kB each; drawn from the store).",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def ray_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that put a command on a Ray cluster; the command gets ``place``, where its
    work runs (:mod:`seqsim.placement`): :data:`~seqsim.placement.HERE` without ``--ray``,
    else a :class:`~seqsim.distributed.RayCluster` (closed when the command returns)."""

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
            from ..placement import HERE

            return command(*args, place=HERE, **kwargs)
        if kwargs.get("device") not in (None, DEFAULT_DEVICE):
            raise click.UsageError(
                "with --ray every worker picks its own device: CUDA where --gpus-per-worker "
                "gives it a GPU (leave --device out)"
            )
        from ..distributed.cluster import RayCluster, require_ray

        require_ray()
        require_ray("ray.data")
        cluster = RayCluster(
            address=address,
            workers=workers,
            cpus_per_worker=cpus_per_worker,
            gpus_per_worker=gpus_per_worker,
        )
        with cluster:
            return command(*args, place=cluster, **kwargs)

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
