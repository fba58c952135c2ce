"""Competition folders laid out as MLE-bench's (`mlebench/competitions/<id>/`), written by the
tests themselves: config.yaml with `dataset`, `grader.grade_fn` and `preparer`, a grade.py,
a prepare.py, a description and a leaderboard. Never copies of MLE-bench's files."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

# the six real MLE-bench leaderboards the repository carries (see tests/data/mlebench)
REAL_LEADERBOARDS = Path(__file__).resolve().parents[1] / "data" / "mlebench" / "leaderboards"

CONFIG = """\
id: {id}
name: {id} (a test's own)
competition_type: simple
awards_medals: true
prizes: null
description: mlebench/competitions/{id}/description.md

dataset:
  answers: {id}/prepared/private/{answers}
  sample_submission: {id}/prepared/public/{sample}

grader:
  name: test-grader
  grade_fn: mlebench.competitions.{id}.grade:grade

preparer: mlebench.competitions.{id}.prepare:prepare
"""


def write_competition(
    registry: Path,
    competition_id: str,
    *,
    grade: str,
    prepare: str = "def prepare(raw, public, private):\n    raise NotImplementedError\n",
    leaderboard: list[float] | str | None = None,
    answers: str = "test.csv",
    sample: str = "sample_submission.csv",
) -> Path:
    """`registry/<id>/` in MLE-bench's layout. `leaderboard`: scores best first, or the name
    of one of the real leaderboards in tests/data/mlebench (default: 20 rising scores)."""
    folder = registry / competition_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(
        CONFIG.format(id=competition_id, answers=answers, sample=sample)
    )
    (folder / "description.md").write_text(f"# {competition_id}\n")
    (folder / "grade.py").write_text(textwrap.dedent(grade))
    (folder / "prepare.py").write_text(textwrap.dedent(prepare))
    if isinstance(leaderboard, str):
        shutil.copyfile(
            REAL_LEADERBOARDS / leaderboard / "leaderboard.csv", folder / "leaderboard.csv"
        )
    else:
        scores = leaderboard or [1 - i / 20 for i in range(20)]
        (folder / "leaderboard.csv").write_text(
            "teamName,score\n" + "".join(f"t{i},{s}\n" for i, s in enumerate(scores))
        )
    return folder


def write_prepared(
    data_dir: Path, competition_id: str, public: dict[str, str], private: dict[str, str]
) -> Path:
    """Prepared files as `mlebench prepare` leaves them (no mleray manifest)."""
    prepared = data_dir / competition_id / "prepared"
    for folder, files in (("public", public), ("private", private)):
        (prepared / folder).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (prepared / folder / name).write_text(text)
    return prepared
