"""CLI command: `mleray run`, one competition × agent × seeds through the sweep driver."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    competition: str = typer.Option(..., "--competition", help="Competition id."),
    agent: str = typer.Option(..., "--agent", help="Built-in agent name or agent folder."),
    model: str | None = typer.Option(None, "--model", help="Model name passed to the agent."),
    seed: int | None = typer.Option(None, "--seed", help="Run this one seed."),
    seeds: int | None = typer.Option(None, "--seeds", help="Run seeds 0..N-1."),
    sandbox: str = typer.Option("docker", "--sandbox", help="docker or local."),
    cpus: float = typer.Option(1.0, "--cpus", help="CPUs per trial."),
    memory: str = typer.Option("4g", "--memory", help="Memory per trial, like 4g."),
    gpus: float = typer.Option(0.0, "--gpus", help="GPU share per trial: 0, whole, or 1/k."),
    time_limit: float = typer.Option(600.0, "--time-limit", help="Seconds of agent time."),
    results: Path | None = typer.Option(
        None, "--results", help="Results folder (default: a new results/run-<time>)."
    ),
    num_gpus: float | None = typer.Option(
        None, "--num-gpus", min=0, help="GPUs to declare to the embedded Ray."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per trial."),
) -> None:
    """Run one agent on one competition (one or more seeds) on an embedded local Ray."""
    from mleray.cli.sweep import print_trials
    from mleray.cli.usage_errors import fail
    from mleray.driver import run_sweep
    from mleray.spec import spec_from_dict

    if seed is not None and seeds is not None:
        raise fail("give --seed or --seeds, not both")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = results or Path("results") / f"run-{stamp}"
    raw = {
        "name": f"run-{stamp}",
        "competitions": [competition],
        "agents": [{"name": agent, **({"models": [model]} if model else {})}],
        "seeds": [seed] if seed is not None else (seeds if seeds is not None else 1),
        "resources": {"gpus": gpus, "cpus": cpus, "memory": memory},
        "time_limit": time_limit,
        "sandbox": sandbox,
        "results": str(folder),
    }
    spec = spec_from_dict(raw, source="mleray run")
    summary = run_sweep(spec, num_gpus=num_gpus, results_dir=folder, progress=not as_json)
    print_trials(summary, as_json)
