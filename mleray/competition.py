"""`Competition`: one competition's definition, resolved to concrete paths.

Built by `mleray.registry` from `competitions/<id>/config.yaml` (or an MLE-bench-style
folder). Frozen plain data: safe to send across Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Competition:
    id: str
    name: str
    root: Path  # the folder holding config.yaml
    description_path: Path  # markdown shown to the agent
    data_dir: Path  # cache folder: <MLERAY_DATA_DIR>/<id>
    metric: str | None  # a name in mleray.grading.metrics, or None with grader
    grader: (
        str | None
    )  # "module:function" grading fn(submission_df, answers_df) -> float (MLE-bench order)
    lower_is_better: bool | None  # None: inferred from the leaderboard
    source: str  # "builtin" | "kaggle" | "mlebench"
    kaggle_slug: str | None
    prepare: str  # "module:function" or "file.py:function" (relative to root)
    answers: str  # path relative to private_dir
    sample_submission: str  # path relative to public_dir
    id_column: str
    target_columns: tuple[str, ...]
    leaderboard_path: Path

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def public_dir(self) -> Path:
        return self.data_dir / "public"

    @property
    def private_dir(self) -> Path:
        return self.data_dir / "private"

    @property
    def answers_path(self) -> Path:
        return self.private_dir / self.answers

    @property
    def sample_submission_path(self) -> Path:
        return self.public_dir / self.sample_submission
