"""The remote grading task: grade an attempt's submission and snapshots where the answers are.

Scheduled with a sliver of the custom resource `mleray_answers`, which only the node
holding the private answers declares (the embedded local Ray declares it on its single
node; on a `ray up` cluster the head does), so answers never leave that node. Grading is
CPU work: `num_gpus=0`, and CUDA_VISIBLE_DEVICES is cleared because a task without GPUs
otherwise sees every GPU of its node.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ray

from mleray.actors.options import ANSWERS_RESOURCE
from mleray.grading.report import AttemptGrades, GradeReport
from mleray.plan import Trial

# Grading asks for no CPU: it is short and light, it must not queue behind trials waiting
# for CPUs (results would only land at the end, and a crash would lose them), and the
# answers node of a cluster declares CPU 0 so that no agent ever runs next to the answers.
GRADE_CPUS = 0


def _grade_bytes(competition, data: bytes | None, folder: Path, name: str) -> GradeReport:
    from mleray.grading import grade_submission

    path = folder / name
    if data is not None:
        path.write_bytes(data)
    return grade_submission(competition, path)  # a missing file grades as "no submission"


@ray.remote(num_cpus=GRADE_CPUS, num_gpus=0, resources={ANSWERS_RESOURCE: 0.001}, max_retries=2)
def grade_attempt(
    trial: Trial, submission: bytes | None, snapshots: tuple[tuple[float, bytes], ...]
) -> AttemptGrades:
    """The reports for the final submission and for each (elapsed, snapshot)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    from mleray.data import ensure_prepared
    from mleray.registry import get_competition

    competition = ensure_prepared(
        get_competition(trial.competition_id, extra_paths=list(trial.competitions_path) or None)
    )
    with tempfile.TemporaryDirectory(prefix="mleray-grade-") as tmp:
        folder = Path(tmp)
        final = _grade_bytes(competition, submission, folder, "submission.csv")
        graded = tuple(
            (elapsed, _grade_bytes(competition, data, folder, f"snapshot-{i}.csv"))
            for i, (elapsed, data) in enumerate(snapshots)
        )
    return AttemptGrades(final=final, snapshots=graded)
