"""``seqsim view``: open a report's ``report.html`` in the browser, or serve it on this
machine."""

from __future__ import annotations

import functools
import webbrowser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from .errors import friendly_errors

HOST = "127.0.0.1"
"""Where ``--serve`` listens: this machine only."""
DEFAULT_PORT = 8000
"""The port of ``--serve`` by default."""
PAGE = "report.html"
"""The page of a report folder (:data:`seqsim.report_html.PAGE_FILE`, not imported: the
command's help prints without loading the report modules)."""


def report_page(folder: Path) -> Path:
    """The page of a report folder.

    Parameters
    ----------
    folder : Path
        A folder written by ``seqsim evaluate`` or ``seqsim demo``.

    Returns
    -------
    Path
        Its ``report.html``.

    Raises
    ------
    click.ClickException
        Naming the folder, where it has no ``report.html``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.cli.view import report_page
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     try:
    ...         report_page(Path(folder))
    ...     except Exception as error:
    ...         print(error.message)  # doctest: +ELLIPSIS
    /...: no report.html there (a report folder of seqsim evaluate or seqsim demo holds one)
    """
    page = folder / PAGE
    if not page.is_file():
        raise click.ClickException(
            f"{folder}: no {PAGE} there (a report folder of seqsim evaluate or seqsim demo "
            "holds one)"
        )
    return page


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves the report folder without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(folder: Path, port: int) -> ThreadingHTTPServer:
    """An HTTP server of ``folder`` on 127.0.0.1, not yet serving.

    Parameters
    ----------
    folder : Path
        The report folder.
    port : int
        The port; 0 for any free one.

    Returns
    -------
    http.server.ThreadingHTTPServer
        Bound; call ``serve_forever`` (its ``server_address`` holds the port).

    Raises
    ------
    OSError
        Where the port is taken.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from seqsim.cli.view import serve
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with serve(Path(folder), 0) as server:
    ...         print(server.server_address[0])
    127.0.0.1
    """
    handler = functools.partial(_QuietHandler, directory=str(folder))
    return ThreadingHTTPServer((HOST, port), handler)


@click.command(name="view")
@click.argument(
    "report_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="REPORT_DIR",
)
@click.option(
    "--serve",
    "serving",
    is_flag=True,
    help=f"Serve the report folder on {HOST} instead (for a browser that will not open "
    "file:// pages, or another machine through an SSH tunnel); Ctrl-C stops it.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port of --serve; 0 for any free one.",
)
@friendly_errors
def view_command(report_dir: Path, serving: bool, port: int) -> None:
    """Open REPORT_DIR's report.html (the matrix, each pair's queries and their audio) in
    the web browser, or serve it on this machine with --serve."""
    page = report_page(report_dir)
    if not serving:
        url = page.absolute().as_uri()
        click.echo(url)
        if not webbrowser.open(url):
            click.echo(f"no web browser found: open {url} in one", err=True)
        return
    try:
        server = serve(report_dir, port)
    except OSError as error:
        raise click.ClickException(
            f"--port {port}: cannot serve on {HOST}:{port} ({error.strerror or error})"
        ) from None
    with server:
        url = f"http://{HOST}:{server.server_address[1]}/{PAGE}"
        click.echo(f"serving {report_dir} at {url} (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
