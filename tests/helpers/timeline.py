"""When attempts ran: how many ran side by side."""

from __future__ import annotations


def max_overlap(intervals) -> int:
    """The most (start, end) intervals open at one instant; one ending as another starts
    does not count as overlapping."""
    events = sorted([(s, 1) for s, e in intervals] + [(e, -1) for s, e in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak
