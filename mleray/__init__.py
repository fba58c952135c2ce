"""mleray: MLE-bench-style agent evaluations, in parallel on Ray."""

__version__ = "0.1.0"
