"""The model-cost cells of the report's tables: tokens and dollars, and per medal.

Shown only when some group used the model gateway, so a report of sweeps without LLM agents
looks as it always did. Unknown is `n/a`: a group without gateway use has no tokens, and its
dollars are unknown when a model had no known price.
"""

from __future__ import annotations

MD_HEADERS = ["tokens", "dollars", "tokens per medal", "dollars per medal"]
TERMINAL_HEADERS = ["tok/medal", "$/medal"]


def uses_models(report) -> bool:
    return any(row.get("tokens") is not None for row in report.gpu_cost)


def _tokens(value) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _dollars(value) -> str:
    return "n/a" if value is None else f"${value:.4g}"


def md_cells(row: dict) -> list[str]:
    """The Markdown cost table's model cells for one `gpu_cost` row."""
    return [
        _tokens(row.get("tokens")),
        _dollars(row.get("dollars")),
        _tokens(row.get("tokens_per_medal")),
        _dollars(row.get("dollars_per_medal")),
    ]


def terminal_cells(row: dict) -> list[str]:
    """The terminal table's per-medal model cells for one `gpu_cost` row (or {})."""
    return [_tokens(row.get("tokens_per_medal")), _dollars(row.get("dollars_per_medal"))]
