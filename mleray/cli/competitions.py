"""CLI commands: competitions (placeholder until implemented)."""

import typer


def register(app: typer.Typer) -> None:
    pass
