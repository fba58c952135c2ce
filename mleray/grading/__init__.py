"""Grading: metrics, submission validation, `grade_submission` and medal thresholds.

A pure function of files: imports neither ray, docker, nor the sandbox or actors.

The names below are imported on first use (PEP 562), not when the package is imported:
`python -m mleray.grading.validate` imports this package first, and an eager import of
`validate` here would run it twice (runpy warns about exactly that).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MAX_SUBMISSION_BYTES": "grade",
    "check_gradable": "preflight",
    "grade_submission": "grade",
    "decide_medals": "medals",
    "load_leaderboard": "medals",
    "medal_thresholds": "medals",
    "METRICS": "metrics",
    "Metric": "metrics",
    "get_metric": "metrics",
    "GradeReport": "report",
    "MedalThresholds": "report",
    "MissingPackageError": "packages",
    "ValidationResult": "validate",
    "validate_submission": "validate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
