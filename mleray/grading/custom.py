"""Custom graders: a competition's `grader: "module:function"`, called as MLE-bench calls its
graders, `fn(submission_df, answers) -> float`.

A module name that is not importable is looked up as a .py file under the competition's
folder (`grade:grade` -> `<root>/grade.py`, `pkg.metric:fn` -> `<root>/pkg/metric.py`).

The agent chooses the submission a grader reads, so a grader call is bounded: it runs in
a forked child (which inherits the loaded grader and answers, nothing to pickle) that is
killed after `grader_timeout()` seconds (env MLERAY_GRADER_TIMEOUT, default 900; 0 runs
it in this process, unbounded). A hang or a crash makes the submission invalid, as any
other grader failure does in MLE-bench.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import io
import json
import multiprocessing
import numbers
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mleray.errors import SpecError
from mleray.grading.medals import SCORE_DECIMALS
from mleray.grading.packages import missing_package
from mleray.grading.validate import SubmissionError, column_cap, header_fields

# MLE-bench reads CSVs with round-trip float parsing; pandas 3 parses exactly by default
# and deprecates the option.
_FLOAT_OPTIONS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
DEFAULT_GRADER_TIMEOUT = 900.0  # seconds; MLE-bench's slowest graders take a few minutes


def grader_timeout() -> float:
    """Seconds a custom grader may run on one submission (0: unbounded, in-process)."""
    value = os.environ.get("MLERAY_GRADER_TIMEOUT", "")
    try:
        seconds = float(value) if value else DEFAULT_GRADER_TIMEOUT
    except ValueError:
        raise SpecError(
            f"MLERAY_GRADER_TIMEOUT must be a number of seconds, got {value!r}"
        ) from None
    if not seconds >= 0:
        raise SpecError(f"MLERAY_GRADER_TIMEOUT must be 0 or more seconds, got {value!r}")
    return seconds


@functools.lru_cache(maxsize=64)
def load_grader(spec: str, root: Path) -> Callable[..., Any]:
    module_name, sep, function_name = spec.rpartition(":")
    if not sep or not module_name or not function_name:
        raise SpecError(f"grader {spec!r} is not 'module:function'")
    module = _import(module_name, Path(root), spec)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise SpecError(f"grader {spec!r}: {module_name} has no function {function_name!r}")
    return function


def _import(module_name: str, root: Path, spec: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None:
            raise SpecError(f"grader {spec!r}: importing {module_name} failed: {exc}") from None
        if not module_name.startswith(exc.name):  # the grader's module needs a package
            raise missing_package(f"grader {spec!r}", exc) from None
    path = root.joinpath(*module_name.split(".")).with_suffix(".py")
    if not path.is_file():
        raise SpecError(f"grader {spec!r}: no module {module_name!r} and no file {path}")
    unique_name = f"_mleray_grader_{abs(hash(str(path.resolve())))}"
    file_spec = importlib.util.spec_from_file_location(unique_name, path)
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[unique_name] = module  # dataclasses and pickling look modules up here
    try:
        file_spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        del sys.modules[unique_name]
        raise missing_package(f"grader {spec!r} ({path})", exc) from None
    except Exception as exc:
        del sys.modules[unique_name]
        raise SpecError(
            f"grader {spec!r}: loading {path} failed: {type(exc).__name__}: {exc}"
        ) from None
    return module


def load_answers(path: Path) -> Any:
    """Answers as MLE-bench hands them to graders: a DataFrame for .csv, dicts for .jsonl."""
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    try:
        return pd.read_csv(path, **_FLOAT_OPTIONS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SpecError(
            f"answers {path} are not a readable CSV ({' '.join(str(exc).split())})"
        ) from None


def run_grader(spec: str, root: Path, text: str, name: str, answers: Any) -> float:
    """Score a submission's text with a custom grader. Anything the grader raises, or a
    result that is not a number, makes the submission invalid with that message."""
    grader = load_grader(spec, Path(root))
    width = len(answers.columns) if isinstance(answers, pd.DataFrame) else 0
    header_fields(text, name, column_cap(width))
    try:
        submission = pd.read_csv(io.StringIO(text), **_FLOAT_OPTIONS)
    except pd.errors.EmptyDataError:
        raise SubmissionError(f"{name}: empty file (no header)") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise SubmissionError(f"{name}: not a valid CSV ({' '.join(str(exc).split())})") from None
    timeout = grader_timeout()
    if (
        timeout == 0
    ):  # in this process: a grader that edits its answers must not edit the cached ones
        given = answers.copy() if isinstance(answers, pd.DataFrame) else [dict(a) for a in answers]
        kind, value = _call(grader, submission, given)
    else:  # a forked child's edits stay in the child
        kind, value = _call_bounded(grader, submission, answers, timeout)
    if kind == "score":
        return value
    if kind == "rejected":
        raise SubmissionError(f"{name}: rejected by grader {spec}: {value}")
    if kind == "not a number":
        raise SubmissionError(f"{name}: grader {spec} returned {value}, not a number")
    raise SubmissionError(f"{name}: grader {spec} {value}")


def _call(grader: Callable[..., Any], submission: pd.DataFrame, answers: Any) -> tuple[str, Any]:
    """("score", the result rounded to 5 decimals as a float), ("rejected", message) or
    ("not a number", repr of the result)."""
    try:
        result = grader(submission, answers)
    except Exception as exc:  # a grader signals an invalid submission by raising
        message = " ".join(str(exc).split()) or type(exc).__name__
        return "rejected", message if len(message) <= 500 else message[
            :500
        ] + "..."  # it may quote the submission
    try:  # rounded here, with the result's own round, as MLE-bench rounds it
        rounded = round(result, SCORE_DECIMALS)
    except (TypeError, ValueError):
        rounded = None
    if not isinstance(rounded, numbers.Real):  # MLE-bench asserts a float or an int
        shown = repr(result)
        return "not a number", shown if len(shown) <= 200 else shown[:200] + "..."
    return "score", float(rounded)


def _child(grader: Callable[..., Any], submission: pd.DataFrame, answers: Any, send) -> None:
    try:
        send.send(_call(grader, submission, answers))
    finally:
        send.close()


def _call_bounded(
    grader: Callable[..., Any], submission: pd.DataFrame, answers: Any, timeout: float
) -> tuple[str, Any]:
    """`_call` in a forked child, killed after `timeout` seconds; ("failed", why) when it
    hangs or dies."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(grader, submission, answers, send), daemon=True)
    child.start()
    send.close()  # the child holds the only writer: EOF when it dies
    try:
        if not receive.poll(timeout):
            return "failed", f"did not finish within {timeout:g} s (MLERAY_GRADER_TIMEOUT)"
        try:
            return receive.recv()
        except EOFError:
            child.join(5)
            return "failed", f"crashed (exit code {child.exitcode})"
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join()
