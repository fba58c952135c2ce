"""Competitions written by tests into tmp folders: a valid registry config and its folder,
and a tiny graded competition (answers, sample submission, leaderboard)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mleray.competition import Competition
from mleray.grading import get_metric

# a valid competition config.yaml (registry fields); tests change one field at a time
GOOD_CONFIG = {
    "id": "toy-comp",
    "name": "Toy",
    "description": "description.md",
    "source": "builtin",
    "prepare": "prepare.py:prepare",
    "metric": "rmse",
    "answers": "test.csv",
    "sample_submission": "sample_submission.csv",
    "id_column": "id",
    "target_columns": ["y"],
}


def write_competition_folder(base: Path, config: dict, folder: str | None = None) -> Path:
    """`base/<folder or config id>/` with `config` as its config.yaml and a description."""
    folder_path = base / (folder or str(config.get("id", "nameless")))
    folder_path.mkdir(parents=True, exist_ok=True)
    (folder_path / "config.yaml").write_text(yaml.safe_dump(config))
    (folder_path / "description.md").write_text("# toy\n")
    return folder_path


def make_competition(
    root: Path,
    answers: pd.DataFrame,
    metric: str | None = "rmse",
    leaderboard: list[float] | None = None,
    grader: str | None = None,
    lower_is_better: bool | None = None,
    id_column: str = "id",
) -> Competition:
    """A competition folder in `root`: answers, a sample submission, a leaderboard."""
    data = root / "data"
    (data / "private").mkdir(parents=True, exist_ok=True)
    (data / "public").mkdir(parents=True, exist_ok=True)
    answers.to_csv(data / "private" / "answers.csv", index=False)
    sample = answers.copy()
    for column in sample.columns:
        if column != id_column:
            sample[column] = 0
    sample.to_csv(data / "public" / "sample_submission.csv", index=False)
    if leaderboard is None:  # a generic best-first leaderboard in the metric's direction
        lower = get_metric(metric).lower_is_better if metric else True
        leaderboard = sorted(np.linspace(0.1, 0.9, 20).tolist(), reverse=not lower)
    pd.DataFrame({"teamId": range(len(leaderboard)), "score": leaderboard}).to_csv(
        root / "leaderboard.csv", index=False
    )
    (root / "description.md").write_text("# tiny\n")
    return Competition(
        id="tiny",
        name="Tiny",
        root=root,
        description_path=root / "description.md",
        data_dir=data,
        metric=metric,
        grader=grader,
        lower_is_better=lower_is_better,
        source="builtin",
        kaggle_slug=None,
        prepare="prepare.py:prepare",
        answers="answers.csv",
        sample_submission="sample_submission.csv",
        id_column=id_column,
        target_columns=tuple(c for c in answers.columns if c != id_column),
        leaderboard_path=root / "leaderboard.csv",
    )
