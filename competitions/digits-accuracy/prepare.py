"""Handwritten digits as 64 pixel columns (an image task in tabular form), graded by accuracy."""

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_digits

from mleray.data import prepare_single_target


def make_raw(raw: Path) -> None:
    data = load_digits()
    frame = pd.DataFrame(data.data.astype(int), columns=[f"pixel{i}" for i in range(64)])
    frame.insert(0, "id", range(1, len(frame) + 1))
    frame["label"] = data.target
    frame.to_csv(raw / "digits.csv", index=False)


def prepare(raw: Path, public: Path, private: Path) -> None:
    prepare_single_target(
        raw / "digits.csv",
        public,
        private,
        target="label",
        test_fraction=0.4,
        seed=20240602,
        stratify=True,
        sample_value=0,
    )
