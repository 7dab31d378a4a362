"""The `durably` command line."""

from __future__ import annotations

import sys

import click


@click.group()
def main() -> None:
    """durably: durable functions for Python."""


@main.command()
@click.option("--store", envvar="DURABLY_STORE", default=None, help="Store URL.")
@click.option("--orders", default=40, show_default=True, help="How many orders to run.")
def demo(store: str | None, orders: int) -> None:
    """Run the order-fulfilment demo app on the store."""
    from durably.demo import run

    sys.exit(run(store, orders))
