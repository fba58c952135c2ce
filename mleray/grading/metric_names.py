"""The names of the metrics a competition's `metric:` may give, without their code.

Checking a competition's config needs only these names (and checking its leaderboard only
their directions); `mleray.grading.metrics` (which
imports scikit-learn, about a second) defines one metric per name (tests/test_registry.py
checks that the two agree). A trial actor loads its competition on an agent node and never grades,
so it must not pay for scikit-learn per attempt.
"""

from __future__ import annotations

from mleray.errors import SpecError

# Each metric's direction (True: lower is better), which checking a leaderboard against its
# metric needs before any grading: the driver's preflight, also without scikit-learn.
LOWER_IS_BETTER: dict[str, bool] = {
    "roc_auc": False,
    "accuracy": False,
    "log_loss": True,
    "rmse": True,
    "mae": True,
    "rmsle": True,
    "r2": False,
    "f1_macro": False,
}
METRIC_NAMES: tuple[str, ...] = tuple(LOWER_IS_BETTER)


def check_metric_name(name: str) -> None:
    """SpecError unless `name` is a metric of the registry (the one message for it)."""
    if name not in LOWER_IS_BETTER:
        raise SpecError(f"unknown metric {name!r}; known metrics: {', '.join(METRIC_NAMES)}")
