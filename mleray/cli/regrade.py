"""CLI command: `mleray regrade RESULTS` (grade stored submissions again)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("regrade")(regrade)


def regrade(
    results: Path = typer.Argument(..., help="The results folder of a sweep."),
    only_failed: bool = typer.Option(
        False, "--only-failed", help="Only rows whose grading failed."
    ),
    competitions_path: list[Path] | None = typer.Option(
        None, "--competitions-path", help="Extra competition folders."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Grade the stored submissions of a results folder again (where the answers are)."""
    from mleray.regrade import regrade as regrade_folder

    summary = regrade_folder(
        results,
        only_failed=only_failed,
        extra_paths=[str(p) for p in competitions_path or []] or None,
    )
    if as_json:
        typer.echo(json.dumps(asdict(summary)))
        return
    typer.echo(
        f"{results}: {summary.regraded} regraded, {len(summary.changed)} changed, "
        f"{summary.skipped} skipped"
    )
    if summary.no_stored_submission:
        typer.echo(
            f"{len(summary.no_stored_submission)} trials have no stored submission and were "
            f"left as they were: {', '.join(summary.no_stored_submission[:5])}"
            + (" ..." if len(summary.no_stored_submission) > 5 else ""),
            err=True,
        )
