"""The ``seqsim`` command line (reference: docs/cli.md).

Commands: ``prepare fleurs|mass`` (a manifest of a public corpus), ``embed`` (a corpus into a
resumable embedding store), ``evaluate`` (R@1 matrices over language pairs, and a report),
``index build`` and ``search`` (shortlist + exact rerank), ``pair`` (a picture of one pair's
frame similarities), ``metrics`` (the registered metric names) and ``demo`` (the bundled
corpus with the offline whisper-base). ``embed``, ``evaluate`` and ``search`` run on a Ray
cluster with ``--ray``. The library's input errors become one-line messages (exit code 1).

The package holds the ``main`` group here, the options several commands share
(:mod:`~seqsim.cli.options`), the error and interruption handling
(:mod:`~seqsim.cli.errors`) and one module per command group.
"""

from __future__ import annotations

import importlib
import importlib.util
import signal
import sys
import threading
from pathlib import Path

import click

# Only light modules here and in the command modules: torch, transformers, numba, POT and Ray
# load inside the commands that use them, so that `seqsim --help` and every command's help
# print at once.
from .._defaults import PLUGIN_MODULE_PREFIX
from .._version import DISTRIBUTION, __version__
from .embed import embed_command
from .errors import terminate
from .evaluate import demo_command, evaluate_command
from .index import index_group, search_command
from .map import map_command
from .metrics import list_metrics
from .mine import mine_command
from .pair import pair_command
from .prepare import prepare_group
from .view import view_command

__all__ = ["import_plugin", "main"]


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
            spec = importlib.util.spec_from_file_location(PLUGIN_MODULE_PREFIX + path.stem, path)
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
    "metric for --metric or candidate generator for --generator; repeatable.",
)
def main(imports: tuple[str, ...]) -> None:
    """Speech-to-speech retrieval on Whisper encoder frames."""
    for name in imports:
        import_plugin(name)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminate)


for _command in (
    embed_command,
    evaluate_command,
    demo_command,
    prepare_group,
    index_group,
    search_command,
    pair_command,
    map_command,
    mine_command,
    list_metrics,
    view_command,
):
    main.add_command(_command)
