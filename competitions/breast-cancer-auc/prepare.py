"""Breast cancer diagnosis: scikit-learn's bundled Wisconsin set, graded by ROC AUC."""

from pathlib import Path

from sklearn.datasets import load_breast_cancer

from mleray.data import prepare_single_target

TARGET = "malignant"


def make_raw(raw: Path) -> None:
    data = load_breast_cancer(as_frame=True)
    frame = data.data.rename(columns=lambda c: c.replace(" ", "_"))
    frame.insert(0, "id", range(1, len(frame) + 1))
    frame[TARGET] = 1 - data.target  # sklearn codes malignant as 0
    frame.to_csv(raw / "breast_cancer.csv", index=False)


def prepare(raw: Path, public: Path, private: Path) -> None:
    prepare_single_target(
        raw / "breast_cancer.csv",
        public,
        private,
        target=TARGET,
        test_fraction=0.4,
        seed=20240601,
        stratify=True,
        sample_value=0.5,
    )
