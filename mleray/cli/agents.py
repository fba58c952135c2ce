"""`mleray agents list [--json]` and `mleray agents build NAME|DIR [--force] [--ca-bundle FILE]`."""

from __future__ import annotations

import json

import typer

agents_app = typer.Typer(help="Agents: list them, build their Docker images.", no_args_is_help=True)


@agents_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List built-in agents and those on MLERAY_AGENTS_PATH."""
    from mleray.agents import list_agents
    from mleray.sandbox.images import image_tag

    rows = [
        {
            "name": a.name,
            "dir": str(a.dir),
            "image": image_tag(a),
            "network": a.network,
            "secrets": list(a.secrets),
            "kwargs": dict(a.kwargs),
            "description": a.description,
        }
        for a in list_agents()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    # The image tag folds rather than squeezing the description to a word per line.
    table = Table("agent", "network", "secrets")
    table.add_column("description", ratio=2)
    table.add_column("image", overflow="fold", ratio=1)
    for row in rows:
        table.add_row(
            row["name"],
            row["network"],
            ", ".join(row["secrets"]) or "-",
            row["description"],
            row["image"],
        )
    Console().print(table)


@agents_app.command("build")
def build_command(
    agent: str = typer.Argument(..., help="An agent name or an agent folder."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the image exists."),
    ca_bundle: str = typer.Option(
        None,
        "--ca-bundle",
        help="CA bundle for pip/TLS inside the build "
        "(default: env MLERAY_CA_BUNDLE); needed for aideml behind a TLS proxy.",
    ),
) -> None:
    """Build an agent's image (and the base image first, when missing)."""
    from mleray.agents import get_agent
    from mleray.sandbox.images import build_agent_image

    outcome = build_agent_image(get_agent(agent), force=force, ca_bundle=ca_bundle)
    typer.echo(f"{'built' if outcome.built else 'exists'} {outcome.tag}")


def register(app: typer.Typer) -> None:
    app.add_typer(agents_app, name="agents")
