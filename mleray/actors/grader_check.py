"""Checking, where grading runs, that every competition of a sweep can be graded.

The same placement as the grading task (a sliver of the answers resource, no CPU, no GPU),
so the graders are imported by the Python that will grade: on a cluster that is the answers
node, whose packages (`mlebench`, `pyquaternion`, ...) the driver's may not match.
"""

from __future__ import annotations

import os

import ray

from mleray.actors.grading_task import GRADE_CPUS
from mleray.actors.options import ANSWERS_RESOURCE
from mleray.errors import MlerayError


@ray.remote(num_cpus=GRADE_CPUS, num_gpus=0, resources={ANSWERS_RESOURCE: 0.001}, max_retries=1)
def check_graders(
    competition_ids: tuple[str, ...], competitions_path: tuple[str, ...]
) -> MlerayError | None:
    """The first competition's reason it cannot be graded here (its one-line error, as
    data: an exception raised in a task reaches the driver wrapped), or None."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    from mleray.grading import check_gradable
    from mleray.grading.custom import load_grader
    from mleray.registry import get_competition

    load_grader.cache_clear()  # the graders as they are on disk now, not as this worker had them

    for competition_id in competition_ids:
        try:
            check_gradable(
                get_competition(competition_id, extra_paths=list(competitions_path) or None)
            )
        except MlerayError as exc:
            return exc
    return None
