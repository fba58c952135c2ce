"""CLI commands for competitions: `competitions list|show`, `prepare`, `grade`.

Each parses, calls one library function (mleray.registry, mleray.data, mleray.grading)
and prints; an MlerayError is one line on stderr and exit 2.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mleray.errors import MlerayError

competitions_app = typer.Typer(help="List and inspect competitions.", no_args_is_help=True)

PATH_HELP = (
    "Extra folder(s) holding competitions, searched before the built-ins (repeatable; "
    "default: $MLERAY_COMPETITIONS_PATH)."
)
MLEBENCH_HELP = (
    "MLE-bench data dir for MLE-bench-style competitions (default: $MLERAY_MLEBENCH_DATA_DIR)."
)

PathsOption = typer.Option(None, "--competitions-path", help=PATH_HELP)
MlebenchOption = typer.Option(None, "--mlebench-data-dir", help=MLEBENCH_HELP)


def _paths(values: list[str] | None) -> list[str] | None:
    """The --competitions-path folders; a typo is an error, not a silently shorter list."""
    from mleray.cli.usage_errors import fail

    if not values:
        return None
    paths = [p for value in values for p in value.split(os.pathsep) if p]
    for path in paths:
        if not Path(path).expanduser().is_dir():
            raise fail(f"--competitions-path {path}: no such folder")
    return paths


def _fail(exc: MlerayError) -> typer.Exit:
    from mleray.cli.usage_errors import fail

    return fail(str(exc))


def describe(comp, prepared: bool) -> dict:
    """A competition as plain JSON-able data: its config fields plus resolved paths."""
    from mleray.data import raw_dir_of

    record = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(comp).items()
    }
    record["target_columns"] = list(comp.target_columns)
    record.update(
        raw_dir=str(raw_dir_of(comp)),
        public_dir=str(comp.public_dir),
        private_dir=str(comp.private_dir),
        answers_path=str(comp.answers_path),
        sample_submission_path=str(comp.sample_submission_path),
        prepared=prepared,
    )
    return record


def _resolved(comp):
    """(the competition, prepared?): a prepared MLE-bench one with its id and target columns
    read off its sample submission."""
    from mleray import data
    from mleray.errors import NotPreparedError

    try:
        return data.ensure_prepared(comp), True
    except NotPreparedError:
        return comp, False


@competitions_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    competitions_path: list[str] | None = PathsOption,
    mlebench_data_dir: str | None = MlebenchOption,
) -> None:
    """List every competition found, with its metric, source and whether it is prepared."""
    from mleray import registry

    try:
        comps = registry.list_competitions(_paths(competitions_path), mlebench_data_dir)
        records = [describe(*_resolved(c)) for c in comps]
    except MlerayError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table("id", "name", "metric", "source", "prepared")
    for r in records:
        table.add_row(
            r["id"],
            r["name"],
            r["metric"] or f"grader {r['grader']}",
            r["source"],
            "yes" if r["prepared"] else "no",
        )
    Console().print(table)


@competitions_app.command("show")
def show_command(
    competition_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    competitions_path: list[str] | None = PathsOption,
    mlebench_data_dir: str | None = MlebenchOption,
) -> None:
    """Show one competition's config fields, data paths, and whether it is prepared."""
    from mleray import registry

    try:
        comp = registry.get_competition(
            competition_id, _paths(competitions_path), mlebench_data_dir
        )
        record = describe(*_resolved(comp))
    except MlerayError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    table = Table("field", "value", show_header=False)
    for key, value in record.items():
        table.add_row(key, str(value))
    Console().print(table)


def prepare_command(
    competition_ids: list[str] | None = typer.Argument(None, metavar="ID..."),
    split: str | None = typer.Option(None, "--split", help="Prepare every competition of a split."),
    force: bool = typer.Option(False, "--force", help="Prepare again even when already prepared."),
    skip_verification: bool = typer.Option(
        False,
        "--skip-verification",
        help="Keep MLE-bench competitions' prepared files even if they differ from its "
        "checksums.yaml.",
    ),
    competitions_path: list[str] | None = PathsOption,
    mlebench_data_dir: str | None = MlebenchOption,
) -> None:
    """Prepare competitions: raw data -> public/private files, with checksums. MLE-bench
    competition folders download through the Kaggle API and run their own preparer."""
    from mleray import data, registry
    from mleray.cli.usage_errors import fail

    if bool(competition_ids) == bool(split):
        raise fail("give competition ids or --split NAME (one of the two)")
    try:
        ids = list(competition_ids) if competition_ids else registry.load_split(split)
    except MlerayError as exc:
        raise _fail(exc) from None
    failures = 0
    for competition_id in ids:
        started = time.monotonic()
        try:
            comp = registry.get_competition(
                competition_id, _paths(competitions_path), mlebench_data_dir
            )
            already = not force and data.is_prepared(comp)
            path = data.prepare_competition(comp, force=force, verify=not skip_verification)
        except MlerayError as exc:
            typer.echo(f"error: {competition_id}: {exc}", err=True)
            failures += 1
            continue
        done = "already prepared" if already else f"prepared in {time.monotonic() - started:.1f}s"
        typer.echo(f"{competition_id}: {done} -> {path}")
    if failures:
        raise typer.Exit(code=2)


def grade_command(
    submission: Path = typer.Argument(..., metavar="FILE", help="The submission CSV."),
    competition_id: str = typer.Option(..., "--competition", "-c", help="Competition id."),
    as_json: bool = typer.Option(False, "--json", help="Print the GradeReport as JSON."),
    competitions_path: list[str] | None = PathsOption,
    mlebench_data_dir: str | None = MlebenchOption,
) -> None:
    """Grade a submission file; exit 0 whenever a report is produced, valid or not."""
    from mleray import data, registry
    from mleray.grading import grade_submission

    try:
        comp = registry.get_competition(
            competition_id, _paths(competitions_path), mlebench_data_dir
        )
        comp = data.ensure_prepared(comp)
        report = grade_submission(comp, submission)
    except MlerayError as exc:
        raise _fail(exc) from None
    record = report.to_dict()
    record["graded_at"] = report.graded_at.isoformat()
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    table = Table("field", "value", show_header=False, title=f"{comp.id}: {submission}")
    for key, value in record.items():
        table.add_row(key, "" if value is None else str(value))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(competitions_app, name="competitions")
    app.command("prepare")(prepare_command)
    app.command("grade")(grade_command)
