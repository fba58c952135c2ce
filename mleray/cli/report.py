"""CLI command: `mleray report RESULTS` (pass@k, medal rates, curves, plots)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from mleray.errors import MlerayError


def parse_ks(text: str | None) -> list[int] | None:
    """'1,2,4,8' -> [1, 2, 4, 8]; None -> None (every k). A bad value is a one-line error."""
    from mleray.analysis.frame import ReportError

    if text is None:
        return None
    ks = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise ReportError(f"--k: {part!r} is not a positive whole number (use e.g. --k 1,2,4)")
        ks.append(int(part))
    return ks


def report(
    results: Path = typer.Argument(..., metavar="RESULTS", help="The results folder of a sweep."),
    k: str | None = typer.Option(
        None,
        "--k",
        metavar="1,2,4,8",
        help=(
            "Comma-separated k values for pass@k (default: every k from 1 to the number of seeds)."
        ),
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        metavar="NAME[,NAME]",
        help=(
            "Only the competitions of this split; several, comma-separated, give one row per "
            "split (e.g. low,medium,high; lite is MLE-bench's low split, all its 75)."
        ),
    ),
    out: Path | None = typer.Option(
        None, "--out", metavar="DIR", help=("Write report.md, report.json and PNGs here.")
    ),
    as_json: bool = typer.Option(
        False, "--json", help=("Print the report as JSON on stdout, nothing else.")
    ),
    mlebench_reports: Path | None = typer.Option(
        None,
        "--mlebench-reports",
        metavar="DIR",
        help=(
            "Also write MLE-bench's grading report JSON here, one "
            "<agent>[_<model>]_grading_report.json per agent × model (with --split: only "
            "those competitions), for scripts written for MLE-bench results."
        ),
    ),
) -> None:
    """Pass@k, medal rates with error bars, scaling curves and plots for a results folder."""
    from mleray.analysis.render import terminal_view, to_json, write_report
    from mleray.analysis.report import build_report
    from mleray.cli.usage_errors import fail

    try:
        ks = parse_ks(k)
        splits = [name.strip() for name in split.split(",") if name.strip()] if split else None
        built = build_report(results, ks=ks, split=splits)
        written = write_report(built, out) if out is not None else []
        if mlebench_reports is not None:
            from mleray.analysis.mlebench_json import write_mlebench_reports

            written += write_mlebench_reports(results, mlebench_reports, splits)
    except MlerayError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(to_json(built))
    else:
        Console().print(terminal_view(built))
    for path in written:  # on stderr, so that --json leaves stdout pure JSON
        typer.echo(f"wrote {path}", err=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
