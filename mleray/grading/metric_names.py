"""The names of the metrics a competition's `metric:` may give, without their code.

Checking a competition's config needs only these names; `mleray.grading.metrics` (which
imports scikit-learn, about a second) defines one metric per name (tests/test_registry.py
checks that the two agree). A trial actor loads its competition on an agent node and never grades,
so it must not pay for scikit-learn per attempt.
"""

from __future__ import annotations

METRIC_NAMES: tuple[str, ...] = (
    "roc_auc",
    "accuracy",
    "log_loss",
    "rmse",
    "mae",
    "rmsle",
    "r2",
    "f1_macro",
)
