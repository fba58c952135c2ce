"""Shared pieces of the benchmarks: the machine they ran on, medians, the JSON last line.

Each benchmark measures both sides in the same run, repeats the measurement in rounds
(the sides interleaved within a round, so a burst of load from elsewhere hits both), and
reports medians of the per-round figures and of the per-round ratios.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # tests.helpers, for the synthetic results
    sys.path.insert(0, str(REPO))


def machine() -> dict:
    """Where the figures came from: cores, memory, load before the run."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError):
        memory = None
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory, 1) if memory else None,
        "python": platform.python_version(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def emit(figures: dict) -> None:
    """The figures as one JSON object on the last line of stdout."""
    figures = {**figures, "machine_after": {"load_avg_1m": round(os.getloadavg()[0], 2)}}
    print(json.dumps(figures, sort_keys=True, default=str), flush=True)


def note(message: str) -> None:
    """Progress on stderr, so stdout ends with the JSON line."""
    print(message, file=sys.stderr, flush=True)
