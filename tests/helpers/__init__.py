"""Helpers shared by several test files (test files never import each other).

Import them as `tests.helpers.<module>`: pytest puts the repository root on `sys.path`
(`pythonpath` in pyproject.toml), so this works under `pytest` and `python -m pytest` alike.
"""
