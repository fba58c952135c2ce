"""A usage error: one line on stderr, exit code 2. Its own module so that command modules
import it without importing the package that registers them (no import cycle)."""

from __future__ import annotations

import typer


def fail(message: str) -> typer.Exit:
    """Print a one-line usage error to stderr; `raise fail(...)` exits 2."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
