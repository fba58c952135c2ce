"""Expanding a SweepSpec into Trials with deterministic ids (pure: no Ray, no Docker).

`trial_id` is a stable hash of what changes the run: competition, agent, model, seed,
agent kwargs, time limit, sandbox, the resources (GPU share, CPUs, memory), and for a
gateway model entry what it changes about the run (`ModelEntry.identity`). Resources
do not change *what* the agent is asked to do, but hardware-scaling sweeps compare the same
trial at different shares, so those must be distinct trials. The sweep name, the results
folder, `max_attempts` and `snapshot_interval` are left out: renaming a sweep or changing
how often it snapshots does not make finished trials run again.

`results_key` is not identity but ownership: the sweep name plus a hash of the results
folder. It labels a trial's containers and names its scratch folder, so two sweeps of the
same name run into different folders at once never reap or wipe each other's (one folder
takes one driver at a time: `mleray.results.exclusive`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

from mleray.agents import absolute_reference
from mleray.gateway.routes import Budget, ModelRoute
from mleray.spec import SweepSpec

TRIAL_ID_LENGTH = 16  # hex chars of sha256: 64 bits, collision-free at any sweep size we run


@dataclass(frozen=True)
class Trial:
    trial_id: str
    sweep: str
    competition_id: str
    agent: str  # built-in agent name or agent folder path, as in the spec
    model: str | None
    seed: int
    kwargs_json: str  # the agent kwargs as sorted, compact JSON
    gpus: float  # GPU share: 0, whole, or 1/k
    cpus: float
    memory_bytes: int
    time_limit: float
    sandbox: str
    snapshot_interval: float | None = None
    competitions_path: tuple[str, ...] = ()
    agent_path: str | None = None  # absolute folder when `agent` names one (workers' cwd differs)
    results_key: str = ""  # container label / scratch folder: one per results folder
    # the sandbox's bounds (None: the agent's, else the defaults); not part of the identity
    pids: int | None = None
    shm_bytes: int | None = None
    disk_bytes: int | None = None
    # set when the model is served by the model gateway (a mapping entry of `models:`, or
    # a name given to an agent whose config says `gateway: true`); see mleray.spec_models
    route: ModelRoute | None = None
    budget: Budget | None = None

    @property
    def kwargs(self) -> dict:
        return json.loads(self.kwargs_json)

    def label(self) -> str:
        model = f"/{self.model}" if self.model else ""
        return f"{self.competition_id} · {self.agent}{model} · seed {self.seed}"


def trial_id_for(
    competition_id: str,
    agent: str,
    model: str | None,
    seed: int,
    kwargs_json: str,
    time_limit: float,
    sandbox: str,
    gpus: float,
    cpus: float,
    memory_bytes: int,
    model_config: dict | None = None,
) -> str:
    """`model_config`: what a gateway model entry changes about the run (None for a name,
    so plain names keep the ids they always had)."""
    identity = {
        "competition": competition_id,
        "agent": agent,
        "model": model,
        "seed": seed,
        "kwargs": json.loads(kwargs_json),
        "time_limit": float(time_limit),
        "sandbox": sandbox,
        "gpus": float(gpus),
        "cpus": float(cpus),
        "memory_bytes": int(memory_bytes),
    }
    if model_config is not None:
        identity["model_config"] = model_config
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:TRIAL_ID_LENGTH]


def results_key(sweep: str, results_dir: str | os.PathLike) -> str:
    """`<sweep>-<8 hex of the absolute results folder>`: what the sandbox labels this
    folder's containers with, and what the driver reaps by."""
    folder = str(Path(results_dir).resolve())
    return f"{sweep}-{hashlib.sha256(folder.encode()).hexdigest()[:8]}"


def plan_trials(spec: SweepSpec, results_dir: str | os.PathLike | None = None) -> list[Trial]:
    """Every competition × agent × model × seed, in that nesting order, to be run into
    `results_dir` (default: the spec's)."""
    key = results_key(spec.name, results_dir if results_dir is not None else spec.results_dir)
    trials = []
    for cid, agent, seed in itertools.product(spec.competitions, spec.agents, spec.seeds):
        res, time_limit = spec.resources_of(agent), spec.time_limit_of(agent)
        for model in agent.models:
            kwargs_json = agent.kwargs_json
            entry = agent.model_entries.get(model) if model is not None else None
            tid = trial_id_for(
                cid,
                agent.name,
                model,
                seed,
                kwargs_json,
                time_limit,
                spec.sandbox,
                res.gpus,
                res.cpus,
                res.memory_bytes,
                entry.identity() if entry is not None else None,
            )
            trials.append(
                Trial(
                    trial_id=tid,
                    sweep=spec.name,
                    competition_id=cid,
                    agent=agent.name,
                    model=model,
                    seed=seed,
                    kwargs_json=kwargs_json,
                    gpus=res.gpus,
                    cpus=res.cpus,
                    memory_bytes=res.memory_bytes,
                    time_limit=time_limit,
                    sandbox=spec.sandbox,
                    snapshot_interval=spec.snapshot_interval,
                    competitions_path=spec.competitions_path,
                    agent_path=absolute_reference(agent.name),
                    results_key=key,
                    pids=res.pids,
                    shm_bytes=res.shm_bytes,
                    disk_bytes=res.disk_bytes,
                    route=entry.route if entry is not None else None,
                    budget=entry.budget if entry is not None else None,
                )
            )
    return trials


def pending_trials(trials: list[Trial], done: Set[str]) -> list[Trial]:
    """The trials whose id is not in `done` (the driver passes the ids already final in
    the store, `mleray.results.final_trial_ids`), in plan order."""
    return [t for t in trials if t.trial_id not in done]
