"""The metrics registry: each metric's scikit-learn function, its direction (from
`metric_names`, which needs no scikit-learn), and the values it accepts, so grading can
reject a bad value with a specific message before scoring.

A metric is called as `metric.score(y_true, y_pred)` on arrays aligned by id: 1-D for one
target column, 2-D (rows x target columns) for several (one column per class for
multi-class log loss and AUC, one per output for regression).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np
from sklearn import metrics as skm

from mleray.grading.metric_names import LOWER_IS_BETTER as LOWER
from mleray.grading.metric_names import check_metric_name


class ValueKind(str, Enum):
    PROBABILITY = "probability"  # finite numbers in [0, 1]
    NUMERIC = "numeric"  # finite numbers
    LABEL = "label"  # class labels, compared as written (numerically if all numeric)


@dataclass(frozen=True)
class Metric:
    name: str
    lower_is_better: bool
    accepts: ValueKind
    compute: Callable[[np.ndarray, np.ndarray], float]
    binary_answers: bool = False  # answers must be 0/1 (AUC, log loss)
    single_column: bool = False  # exactly one target column (label metrics)
    minimum: float | None = None  # predictions must be above this (RMSLE's domain)

    def score(self, y_true: np.ndarray, y_pred: np.ndarray):
        """The metric's value as its function returns it (a float or a numpy scalar): grading
        rounds it with its own `round`, as MLE-bench rounds what its graders return."""
        return self.compute(y_true, y_pred)


def _roc_auc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # 2-D: one column per class or label, macro-averaged (Kaggle's multi-column AUC).
    return skm.roc_auc_score(y_true, y_pred, average="macro")


def _log_loss(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # Kaggle's multi-class log loss: clip, then rescale each row to sum to one.
    eps = 1e-15
    if y_pred.ndim == 1:
        return skm.log_loss(y_true, np.clip(y_pred, eps, 1 - eps), labels=[0, 1])
    clipped = np.clip(y_pred, eps, 1 - eps)
    return skm.log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True))


def _f1_macro(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return skm.f1_score(y_true, y_pred, average="macro")


_ALL = [
    Metric("roc_auc", LOWER["roc_auc"], ValueKind.PROBABILITY, _roc_auc, binary_answers=True),
    Metric("accuracy", LOWER["accuracy"], ValueKind.LABEL, skm.accuracy_score, single_column=True),
    Metric("log_loss", LOWER["log_loss"], ValueKind.PROBABILITY, _log_loss, binary_answers=True),
    Metric("rmse", LOWER["rmse"], ValueKind.NUMERIC, skm.root_mean_squared_error),
    Metric("mae", LOWER["mae"], ValueKind.NUMERIC, skm.mean_absolute_error),
    Metric(
        "rmsle", LOWER["rmsle"], ValueKind.NUMERIC, skm.root_mean_squared_log_error, minimum=-1.0
    ),
    Metric("r2", LOWER["r2"], ValueKind.NUMERIC, skm.r2_score),
    Metric("f1_macro", LOWER["f1_macro"], ValueKind.LABEL, _f1_macro, single_column=True),
]

REGISTRY: dict[str, Metric] = {m.name: m for m in _ALL}
METRICS: tuple[str, ...] = tuple(REGISTRY)


def get_metric(name: str) -> Metric:
    check_metric_name(name)
    return REGISTRY[name]
