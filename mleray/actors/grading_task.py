"""Grading where the answers are: a long-lived grading actor, and the grading of one attempt.

`Grader` is one actor per sweep, placed with a sliver of the custom resource
`mleray_answers`, which only the node holding the private answers declares (the embedded
local Ray declares it on its single node; on a `ray up` cluster the head does), so answers
never leave that node. It stays warm for the whole sweep: its process has the graders
imported, each competition it has seen checked against its manifest once and its answers
parsed (the caches of `mleray.grading`), so a grade costs the scoring alone, not a worker
start, the imports and a checksum pass over the competition's files each time. The driver
asks it to `warm` every competition of the sweep at the start, while the first trials run.

Grading is CPU work: `num_gpus=0`, and CUDA_VISIBLE_DEVICES is cleared because an actor
without GPUs otherwise sees every GPU of its node. A few calls run at once (threads), so a
large submission does not hold up the grades queued behind it. Ray restarts the actor if
its process dies, and retries the calls it lost (grading is a pure function of its inputs).

`grade_attempt` (a task) grades one attempt the same way in a fresh worker: for callers
outside a sweep.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import ray

from mleray.actors.options import ANSWERS_RESOURCE
from mleray.grading.report import AttemptGrades, GradeReport
from mleray.plan import Trial

# Grading asks for no CPU: it is short and light, it must not queue behind trials waiting
# for CPUs (results would only land at the end, and a crash would lose them), and the
# answers node of a cluster declares CPU 0 so that no agent ever runs next to the answers.
GRADE_CPUS = 0
GRADER_THREADS = 4  # grades in progress at once in the grading actor
CompetitionKey = tuple[str, tuple[str, ...]]  # (competition id, extra registry folders)


def competition_key(trial: Trial) -> CompetitionKey:
    return trial.competition_id, tuple(trial.competitions_path)


def _prepared(key: CompetitionKey):
    """The competition, checked against its manifest (NotPreparedError when it is not)."""
    from mleray.data import ensure_prepared
    from mleray.registry import get_competition

    competition_id, extra = key
    return ensure_prepared(get_competition(competition_id, extra_paths=list(extra) or None))


def _grade_bytes(competition, data: bytes | None, folder: Path, name: str) -> GradeReport:
    from mleray.grading import grade_submission

    path = folder / name
    if data is not None:
        path.write_bytes(data)
    return grade_submission(competition, path)  # a missing file grades as "no submission"


def grade_with(
    competition, submission: bytes | None, snapshots: tuple[tuple[float, bytes], ...]
) -> AttemptGrades:
    """The reports for the final submission and for each (elapsed, snapshot)."""
    with tempfile.TemporaryDirectory(prefix="mleray-grade-") as tmp:
        folder = Path(tmp)
        final = _grade_bytes(competition, submission, folder, "submission.csv")
        graded = tuple(
            (elapsed, _grade_bytes(competition, data, folder, f"snapshot-{i}.csv"))
            for i, (elapsed, data) in enumerate(snapshots)
        )
    return AttemptGrades(final=final, snapshots=graded)


@ray.remote(
    num_cpus=GRADE_CPUS,
    num_gpus=0,
    resources={ANSWERS_RESOURCE: 0.001},
    max_restarts=-1,
    max_task_retries=2,
    max_concurrency=GRADER_THREADS,
)
class Grader:
    """The sweep's grading actor: competitions prepared once, answers kept parsed."""

    def __init__(self) -> None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        self._competitions: dict[CompetitionKey, object] = {}
        self._lock = threading.Lock()

    def _competition(self, key: CompetitionKey):
        with self._lock:  # one check per competition, however many grades arrive at once
            if key not in self._competitions:
                self._competitions[key] = _prepared(key)
            return self._competitions[key]

    def warm(self, keys: tuple[CompetitionKey, ...]) -> None:
        """Check and parse each competition now (grading no submission loads its answers
        and leaderboard); a failure here is left for the first `grade` to report."""
        from mleray.grading import grade_submission

        for key in keys:
            try:
                grade_submission(self._competition(key), None)
            except Exception:  # noqa: BLE001 - reported with the first grade that needs it
                pass

    def grade(
        self, trial: Trial, submission: bytes | None, snapshots: tuple[tuple[float, bytes], ...]
    ) -> AttemptGrades:
        return grade_with(self._competition(competition_key(trial)), submission, snapshots)


@ray.remote(num_cpus=GRADE_CPUS, num_gpus=0, resources={ANSWERS_RESOURCE: 0.001}, max_retries=2)
def grade_attempt(
    trial: Trial, submission: bytes | None, snapshots: tuple[tuple[float, bytes], ...]
) -> AttemptGrades:
    """One attempt's grades in a fresh task (the competition checked and parsed anew)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return grade_with(_prepared(competition_key(trial)), submission, snapshots)
