"""``seqsim metrics``: the registered metric names."""

from __future__ import annotations

import click


@click.command(name="metrics")
def list_metrics() -> None:
    """List the registered metric names."""
    from ..metrics import available_metrics

    for name in available_metrics():
        click.echo(name)
