"""Analysis of a results folder: pass@k, MLE-bench medal rates with error bars,
competition-clustered bootstrap intervals, paired differences, time and hardware
scaling, GPU cost, plots and reports.

    from mleray.analysis import build_report, pass_at_k
    report = build_report("results/my-sweep", ks=[1, 2, 4], split="mlebench-low")

Writers live in `mleray.analysis.render` (Markdown, JSON, terminal) and
`mleray.analysis.plots` (PNGs); they are not imported here so that importing the
numbers does not import matplotlib.
"""

from mleray.analysis.passk import pass_at_k
from mleray.analysis.report import Report, build_report

__all__ = ["Report", "build_report", "pass_at_k"]
