"""The `mleray` command: a thin typer app over the library.

Each submodule owns one group of commands and adds them with `register(app)`. Every
command parses, calls one library function, and prints. A `MlerayError` anywhere becomes
one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
import warnings

import typer

from mleray import __version__
from mleray.errors import MlerayError

app = typer.Typer(
    name="mleray",
    help="Run MLE-bench-style evaluations of ML-engineering agents in parallel on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mleray {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """mleray: competitions × agents × models × seeds, on Ray."""


def _register_commands() -> None:
    from mleray.cli import agents, competitions, reap, regrade, report, run, sweep

    for module in (competitions, agents, run, sweep, regrade, report, reap):
        module.register(app)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    # Library warnings (e.g. an unreadable result file skipped) name their file already;
    # the user needs that line, not the source location that raised it.
    return f"warning: {message}\n"


def main() -> None:
    _register_commands()
    warnings.formatwarning = _one_line_warning
    try:
        app()
    except MlerayError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        if exc.filename is None:  # not about a path the user gave: a bug, keep the traceback
            raise
        typer.echo(f"error: {exc.filename}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
