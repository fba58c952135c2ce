"""`run_sweep`: plan, check, then run every pending trial on Ray and store the results.

Ctrl-C or SIGTERM cancels: running sandboxes are told to stop, actors are killed, the
sweep's containers are reaped on every node, finished results stay, and
`KeyboardInterrupt` propagates (the CLI exits 130). A rerun skips trials already final.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mleray.driver.connect import Admission, admission_limit, check_answers_node, connect
from mleray.driver.loop import SweepLoop
from mleray.driver.models import gateway_trials, sweep_gateways
from mleray.driver.network import note_bridge_agents
from mleray.driver.preflight import Preflight, check_graders_on_answers_node, preflight
from mleray.errors import FailureKind
from mleray.ledger import record_capacity
from mleray.plan import Trial, pending_trials, plan_trials
from mleray.results import ResultWriter, attempts_so_far, exclusive, scan_final_trials
from mleray.spec import SweepSpec

if TYPE_CHECKING:
    from mleray.sandbox import Sandbox


@dataclass(frozen=True)
class SweepSummary:
    sweep: str
    results_dir: Path
    trial_ids: tuple[str, ...]  # every planned trial, in plan order
    skipped: int  # already final before this run
    attempts: int  # attempts started by this run
    retries: int  # of which retries after infra_error
    counts: Mapping[FailureKind, int] = field(default_factory=dict)  # final rows written now
    wall_seconds: float = 0.0
    cancelled: bool = False


def run_sweep(
    spec: SweepSpec,
    *,
    address: str = "local",
    num_gpus: float | None = None,
    num_cpus: float | None = None,
    results_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> SweepSummary:
    """Run every trial of `spec` not already final in the results folder."""
    started = time.monotonic()
    results = Path(results_dir) if results_dir is not None else spec.results_dir
    trials = plan_trials(spec, results)
    final = scan_final_trials(results)
    todo = pending_trials(trials, final.ids)
    summary = SweepSummary(
        sweep=spec.name,
        results_dir=results,
        trial_ids=tuple(t.trial_id for t in trials),
        skipped=len(trials) - len(todo),
        attempts=0,
        retries=0,
    )
    checked = preflight(spec, todo, check_data=address == "local")
    if not todo:
        return summary
    with exclusive(results):
        # again, now that no other driver can write (reading only files new since)
        todo = pending_trials(trials, scan_final_trials(results, since=final).ids)
        summary = replace(summary, skipped=len(trials) - len(todo))
        if not todo:
            return summary
        started_here = connect(address, num_gpus, num_cpus)
        try:
            loop = _run_connected(spec, todo, results, address, checked, progress)
            return replace(
                summary,
                attempts=loop.attempts,
                retries=loop.retries,
                counts=dict(loop.counts),
                wall_seconds=time.monotonic() - started,
            )
        finally:
            if started_here:
                import ray

                ray.shutdown()


def _run_connected(
    spec: SweepSpec,
    todo: list[Trial],
    results: Path,
    address: str,
    checked: Preflight,
    progress: bool,
) -> SweepLoop:
    import ray

    totals = ray.cluster_resources()
    check_answers_node(totals)
    if address != "local":  # the embedded Ray's node is this one: preflight checked it
        check_graders_on_answers_node(spec, todo)
    for shape in {(t.cpus, t.gpus, t.memory_bytes): t for t in todo}.values():
        admission_limit(shape, totals, local=address == "local")  # one that never fits: error
    writer = ResultWriter(results)
    writer.retire_superseded()  # rows a killed driver left behind (one row per trial)
    writer.write_spec(spec.to_dict())
    note_bridge_agents(checked.agents, writer.root)  # a warning line and network.jsonl
    record_capacity(writer.root, totals.get("GPU", 0.0), totals.get("CPU", 0.0), address)

    def reap() -> int:
        return _reap(checked.sandbox, spec.sandbox, todo[0].results_key, address)

    reap()  # orphans of an earlier, killed run
    prior = attempts_so_far(writer.root)
    todo = gateway_trials(todo, checked.agents)  # plain names of `gateway: true` agents
    loop = SweepLoop(
        spec,
        writer,
        Admission(totals),
        [(t, prior.get(t.trial_id, 0) + 1) for t in todo],
        resize=ray.cluster_resources,
    )
    # SIGTERM cancels like Ctrl-C; the model gateways (if any trial uses one) stop last
    with _signals_handled(_raise_interrupt), sweep_gateways(todo, todo[0].results_key):
        try:
            loop.run(progress)
        except BaseException:
            # Ctrl-C, or a fault of the driver itself (a full disk): nothing may go on
            # running, least of all containers holding GPUs; a second Ctrl-C must not cut
            # the clean-up short
            with _signals_handled(signal.SIG_IGN, (signal.SIGINT, signal.SIGTERM)):
                try:
                    loop.cancel_all()
                finally:
                    reap()
            raise
    return loop


def _reap(sandbox: Sandbox, name: str, results_key: str, address: str) -> int:
    """Remove the containers of this results folder's trials (labelled with its key, not
    the bare sweep name, so a same-named sweep elsewhere keeps its own): here with the
    backend preflight checked, for the embedded Ray (no worker to start); on every node
    of a cluster, where each node's reaper makes its own backend `name`."""
    if address == "local":
        return sandbox.reap(results_key)
    from mleray.actors.reaper import reap_everywhere

    return reap_everywhere(name, results_key)


@contextlib.contextmanager
def _signals_handled(handler, signals=(signal.SIGTERM,)):
    """Install `handler` for `signals` inside the block (main thread only: elsewhere
    Python cannot set handlers, and the block runs with the defaults)."""
    old = {}
    for sig in signals:
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:
            pass
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
