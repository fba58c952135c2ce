"""CLI commands: `mleray sweep SPEC.yaml` and `mleray status RESULTS`."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
    app.command("status")(status)


def sweep(
    spec_path: Path = typer.Argument(..., metavar="SPEC.yaml", help="The sweep spec."),
    address: str = typer.Option(
        "local", "--address", help="local (embedded Ray), auto (running cluster) or HOST:PORT."
    ),
    results: Path | None = typer.Option(
        None, "--results", help="Results folder (default: the spec's)."
    ),
    num_gpus: float | None = typer.Option(
        None, "--num-gpus", min=0, help="GPUs to declare to the embedded Ray."
    ),
    num_cpus: float | None = typer.Option(
        None, "--num-cpus", min=0, help="CPUs to declare to the embedded Ray."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per trial."),
) -> None:
    """Run every trial of a sweep spec not already final in its results folder."""
    from mleray.driver import run_sweep
    from mleray.spec import load_spec

    spec = load_spec(spec_path)
    summary = run_sweep(
        spec,
        address=address,
        num_gpus=num_gpus,
        num_cpus=num_cpus,
        results_dir=results,
        progress=not as_json,
    )
    print_trials(summary, as_json)


def print_trials(summary, as_json: bool) -> None:
    """The sweep's trial rows as JSON (stdout holds nothing else), or a short summary."""
    from mleray.cli.tables import json_records, trial_ids_in
    from mleray.results import load

    rows = trial_ids_in(load(summary.results_dir), summary.trial_ids)
    if as_json:
        typer.echo(json.dumps(json_records(rows), indent=2))
        return
    counts = rows["status"].value_counts().to_dict() if len(rows) else {}
    typer.echo(
        f"sweep {summary.sweep}: {len(rows)}/{len(summary.trial_ids)} trials have results "
        f"({summary.skipped} were already done; this run: {summary.attempts} attempts, "
        f"{summary.retries} retries, {summary.wall_seconds:.1f}s) in {summary.results_dir}"
    )
    typer.echo("  " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


def status(
    results: Path = typer.Argument(..., metavar="RESULTS", help="A results folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the ledger as JSON."),
) -> None:
    """Counts by status, the GPU ledger, and model tokens and dollars of a results folder."""
    from mleray.ledger import ledger_for

    ledger = ledger_for(results)
    if as_json:
        typer.echo(json.dumps(ledger.to_dict(), indent=2))
        return
    _print_ledger(results, ledger)


def _print_ledger(results: Path, ledger) -> None:
    from rich.console import Console
    from rich.table import Table

    from mleray.cli.model_usage import model_usage_table

    # The heading is a line of its own: as a table title it wraps to the narrow table's width.
    heading = f"{results}: {ledger.trials} trials, {ledger.attempts} attempts"
    statuses = Table()
    statuses.add_column("status")
    statuses.add_column("trials", justify="right")
    for name, count in ledger.by_status.items():
        statuses.add_row(name, str(count))
    usage = Table(title="ledger", title_justify="left")
    usage.add_column("measure")
    usage.add_column("value", justify="right")
    share = ledger.capacity_used_share
    capacity = ledger.gpu_hours_capacity
    for label, value in [
        (
            "declared GPUs",
            "-" if ledger.declared_gpus is None else f"{ledger.declared_gpus:g}",
        ),
        ("sweep span (h)", f"{ledger.span_seconds / 3600:.3f}"),
        ("GPU-hours capacity (declared × span)", "-" if capacity is None else f"{capacity:.3f}"),
        ("GPU-hours used by trials (share × wall)", f"{ledger.gpu_hours_used:.3f}"),
        ("GPU-hours of completed trials", f"{ledger.gpu_hours_useful:.3f}"),
        ("share of capacity used", "-" if share is None else f"{100 * share:.1f}%"),
        ("trial wall-hours", f"{ledger.wall_hours:.3f}"),
        ("container CPU-hours", f"{ledger.cpu_hours:.3f}"),
        (
            "peak memory (GiB)",
            "-"
            if ledger.peak_memory_bytes is None
            else f"{ledger.peak_memory_bytes / 1024**3:.2f}",
        ),
    ]:
        usage.add_row(label, value)
    console = Console()
    console.print(heading, highlight=False, soft_wrap=True)
    console.print(statuses)
    console.print(usage)
    models = model_usage_table(ledger.model_usage)
    if models is not None:
        console.print(models)
