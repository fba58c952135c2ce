"""Preflight: everything that would make every trial fail, checked once on the driver
before Ray starts, and what it resolved on the way (the driver resolves nothing again).

Graders are checked where grading runs (`check_gradable`: each one imported, its
leaderboard read), before any agent runs: with the embedded Ray that is this node, so
`preflight` does it; on a cluster it is the answers node, so the driver calls
`check_graders_on_answers_node` once connected, before the first trial starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mleray.driver.models import check_models, gateway_trials
from mleray.errors import MlerayError, NotPreparedError
from mleray.plan import Trial
from mleray.spec import SweepSpec

if TYPE_CHECKING:
    from mleray.agents import AgentConfig
    from mleray.competition import Competition
    from mleray.sandbox import Sandbox


@dataclass(frozen=True)
class Preflight:
    """What the sweep's trials use, resolved once per sweep. Each node resolves its own
    copy again where it runs (its paths and secrets are its own), never the driver."""

    sandbox: Sandbox  # the backend, ready for every agent; it reaps the sweep's containers
    competitions: Mapping[str, Competition] = field(default_factory=dict)  # prepared, by id
    agents: Mapping[str, AgentConfig] = field(default_factory=dict)  # by their name in the spec


def preflight(spec: SweepSpec, trials: list[Trial], check_data: bool = True) -> Preflight:
    """Data prepared (where the driver's node holds the answers: it must be able to grade),
    agents and their secrets, the sandbox able to run each agent, the gateway's models
    (`mleray.driver.models.check_models`)."""
    from mleray.agents import get_agent, resolve_secrets
    from mleray.sandbox import get_sandbox

    competitions = _prepared_competitions(spec, trials) if check_data else {}
    sandbox = get_sandbox(spec.sandbox)
    agents = {}
    for name in sorted({t.agent for t in trials}):
        agent = agents[name] = get_agent(name)
        resolve_secrets(agent, os.environ)
        sandbox.check_ready(agent)  # SandboxUnavailableError: no trial of it could run
    check_models(gateway_trials(trials, agents), keys=check_data)  # keys, base_url, prices
    return Preflight(sandbox=sandbox, competitions=competitions, agents=agents)


def _prepared_competitions(spec: SweepSpec, trials: list[Trial]) -> dict[str, Competition]:
    from mleray.data import ensure_prepared
    from mleray.grading import check_gradable
    from mleray.registry import get_competition

    competitions = {}
    for cid in sorted({t.competition_id for t in trials}):
        competition = get_competition(cid, extra_paths=list(spec.competitions_path) or None)
        if not competition.leaderboard_path.is_file():
            raise NotPreparedError(
                f"competition {cid} has no leaderboard at {competition.leaderboard_path}"
            )
        check_gradable(competition)  # a missing package or an LFS pointer: one line, now
        competitions[cid] = ensure_prepared(competition)
    return competitions


def check_graders_on_answers_node(spec: SweepSpec, trials: list[Trial]) -> None:
    """On a cluster (connected): every competition's grader imported, and its leaderboard
    read, on the node holding the answers; the first failure raised as its one line."""
    import ray

    from mleray.actors.grader_check import check_graders

    ids = tuple(sorted({t.competition_id for t in trials}))
    try:
        error = ray.get(check_graders.remote(ids, tuple(spec.competitions_path)))
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
        raise MlerayError(f"checking the graders on the answers node failed: {first[0]}") from None
    if error is not None:
        raise error
