"""Diabetes progression one year after baseline (scikit-learn's bundled set), graded by RMSE."""

from pathlib import Path

from sklearn.datasets import load_diabetes

from mleray.data import prepare_single_target


def make_raw(raw: Path) -> None:
    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.data.rename(
        columns={"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"}
    )
    frame.insert(0, "id", range(1, len(frame) + 1))
    frame["progression"] = data.target
    frame.to_csv(raw / "diabetes.csv", index=False)


def prepare(raw: Path, public: Path, private: Path) -> None:
    prepare_single_target(
        raw / "diabetes.csv",
        public,
        private,
        target="progression",
        test_fraction=0.4,
        seed=20240604,
        stratify=False,
        sample_value=lambda y: round(float(y.mean()), 1),
    )
