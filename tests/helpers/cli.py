"""The `mleray` typer app with its commands registered, for CliRunner tests."""

from __future__ import annotations

import typer

from mleray.cli import _register_commands, app


def registered_app() -> typer.Typer:
    """mleray's app with every command group registered (once per process)."""
    if not any(group.name == "competitions" for group in app.registered_groups):
        _register_commands()
    return app
