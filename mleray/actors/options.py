"""Ray actor options for one trial attempt, from the trial's resources."""

from __future__ import annotations

from mleray.plan import Trial

# Ray's custom resource that only the node holding the private answers declares: grading
# tasks ask for a sliver of it (mleray.actors.grading_task), so answers never leave it
ANSWERS_RESOURCE = "mleray_answers"


def actor_options(trial: Trial) -> dict:
    """`num_gpus` is 0, whole or 1/k (the spec checks it); `memory` is a scheduling
    reservation in bytes (the sandbox enforces the real limit). Threaded with two slots so
    `cancel()` can reach the actor while `outcome()` waits; never restarted, since a restart
    would rerun the agent behind the driver's back (the driver retries, as a new attempt)."""
    return {
        "num_gpus": trial.gpus,
        "num_cpus": trial.cpus,
        "memory": trial.memory_bytes,
        "max_restarts": 0,
        "max_task_retries": 0,
        "max_concurrency": 2,
    }
