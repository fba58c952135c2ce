"""Delivery times with heavy-tailed noise (synthetic, fixed seed), graded by MAE."""

from pathlib import Path

import numpy as np
import pandas as pd

from mleray.data import prepare_single_target

ZONES = ["north", "south", "east", "west", "centre"]


def make_raw(raw: Path) -> None:
    rng = np.random.default_rng(20240606)
    n = 2400
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "distance_km": rng.gamma(2.0, 2.5, n).round(2),
            "items": rng.integers(1, 15, n),
            "hour": rng.integers(7, 24, n),
            "zone": rng.choice(ZONES, n),
            "rain_mm": np.where(rng.random(n) < 0.25, rng.exponential(4.0, n), 0.0).round(1),
            "courier_rating": rng.normal(4.3, 0.4, n).clip(1, 5).round(2),
        }
    )
    zone_delay = frame["zone"].map(dict(zip(ZONES, [2.0, 5.0, 0.0, 3.0, 8.0])))
    rush = ((frame["hour"].between(11, 13)) | (frame["hour"].between(17, 20))) * 6.0
    minutes = (
        10
        + 3.2 * frame["distance_km"]
        + 0.8 * frame["items"]
        + zone_delay
        + rush
        + 1.5 * np.sqrt(frame["rain_mm"]) * frame["distance_km"] ** 0.5
        - 4.0 * (frame["courier_rating"] - 4.3)
    )
    noise = rng.standard_t(df=2, size=n) * 3.0  # heavy tails: a few very late deliveries
    frame["minutes"] = (minutes + noise).clip(lower=3).round(1)
    frame.to_csv(raw / "deliveries.csv", index=False)


def prepare(raw: Path, public: Path, private: Path) -> None:
    prepare_single_target(
        raw / "deliveries.csv",
        public,
        private,
        target="minutes",
        test_fraction=0.4,
        seed=20240606,
        stratify=False,
        sample_value=lambda y: round(float(y.mean()), 1),
    )
