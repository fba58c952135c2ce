"""CLI command: `mleray reap [RESULTS]`, removing containers that runs left behind."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("reap")(reap)


def reap(
    results: Path | None = typer.Argument(
        None, metavar="RESULTS", help="Only the containers of the sweep in this results folder."
    ),
    address: str | None = typer.Option(
        None, "--address", help="Reap on every node of this Ray cluster (auto or HOST:PORT)."
    ),
) -> None:
    """Remove mleray's containers on this node (or every node with --address): those of one
    results folder, or, without RESULTS, all of them, running sweeps' included."""
    from mleray.actors.reaper import reap_containers

    removed = reap_containers(results, address)
    where = "on every node" if address else "on this node"
    typer.echo(f"removed {removed} container{'s' if removed != 1 else ''} {where}")
