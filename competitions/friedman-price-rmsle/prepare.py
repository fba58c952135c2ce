"""Skewed positive prices from Friedman #1 (synthetic, fixed seed), graded by RMSLE."""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_friedman1

from mleray.data import prepare_single_target


def make_raw(raw: Path) -> None:
    features, signal = make_friedman1(
        n_samples=2500, n_features=12, noise=1.5, random_state=20240605
    )
    frame = pd.DataFrame(features.round(5), columns=[f"x{i}" for i in range(1, 13)])
    frame.insert(0, "id", range(1, len(frame) + 1))
    frame["price"] = (20.0 * np.exp(signal / 7.0)).round(2)  # right-skewed, always positive
    frame.to_csv(raw / "widgets.csv", index=False)


def prepare(raw: Path, public: Path, private: Path) -> None:
    prepare_single_target(
        raw / "widgets.csv",
        public,
        private,
        target="price",
        test_fraction=0.4,
        seed=20240605,
        stratify=False,
        sample_value=lambda y: round(float(y.median()), 2),
    )
