"""Five-class tabular classification (synthetic, fixed seed), graded by multi-class log loss."""

from pathlib import Path

import pandas as pd
from sklearn.datasets import make_classification

from mleray.data import split_rows, write_split

CLASSES = [f"class_{k}" for k in range(1, 6)]


def make_raw(raw: Path) -> None:
    features, labels = make_classification(
        n_samples=3000,
        n_features=24,
        n_informative=10,
        n_redundant=6,
        n_classes=5,
        n_clusters_per_class=2,
        class_sep=0.9,
        flip_y=0.05,
        weights=[0.3, 0.25, 0.2, 0.15, 0.1],
        random_state=20240603,
    )
    frame = pd.DataFrame(features.round(5), columns=[f"feat_{i}" for i in range(1, 25)])
    frame.insert(0, "id", range(1, len(frame) + 1))
    frame["target"] = [CLASSES[k] for k in labels]
    frame.to_csv(raw / "products.csv", index=False)


def prepare(raw: Path, public: Path, private: Path) -> None:
    frame = pd.read_csv(raw / "products.csv")
    train, test = split_rows(frame, test_fraction=0.35, seed=20240603, stratify="target")
    one_hot = pd.get_dummies(test["target"]).reindex(columns=CLASSES, fill_value=False).astype(int)
    answers = pd.concat([test[["id"]], one_hot], axis=1)
    sample = answers.assign(**{name: 0.2 for name in CLASSES})
    write_split(public, private, train, test.drop(columns="target"), answers, sample)
