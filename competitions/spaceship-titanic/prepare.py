"""Spaceship Titanic (Kaggle): Kaggle's test labels are hidden, so the labelled train.csv
is split 90/10 with the same row choice as MLE-bench (test_size 0.1, random_state 0)."""

from pathlib import Path

from mleray.data import prepare_single_target


def prepare(raw: Path, public: Path, private: Path) -> None:
    prepare_single_target(
        raw / "train.csv",
        public,
        private,
        target="Transported",
        test_fraction=0.1,
        seed=0,
        stratify=False,
        sample_value=False,
    )
