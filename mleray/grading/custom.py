"""Custom graders: a competition's `grader: "module:function"`, called as MLE-bench calls its
graders, `fn(submission_df, answers) -> float`.

A module name that is not importable is looked up as a .py file under the competition's
folder (`grade:grade` -> `<root>/grade.py`, `pkg.metric:fn` -> `<root>/pkg/metric.py`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import io
import json
import sys
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from mleray.errors import SpecError
from mleray.grading.validate import SubmissionError

# MLE-bench reads CSVs with round-trip float parsing; pandas 3 parses exactly by default
# and deprecates the option.
_FLOAT_OPTIONS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


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
        if exc.name is None or not module_name.startswith(exc.name):
            raise SpecError(f"grader {spec!r}: importing {module_name} failed: {exc}") from None
    path = root.joinpath(*module_name.split(".")).with_suffix(".py")
    if not path.is_file():
        raise SpecError(f"grader {spec!r}: no module {module_name!r} and no file {path}")
    unique_name = f"_mleray_grader_{abs(hash(str(path.resolve())))}"
    file_spec = importlib.util.spec_from_file_location(unique_name, path)
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[unique_name] = module  # dataclasses and pickling look modules up here
    try:
        file_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[unique_name]
        raise SpecError(f"grader {spec!r}: loading {path} failed: {type(exc).__name__}: {exc}") from None
    return module


def load_answers(path: Path) -> Any:
    """Answers as MLE-bench hands them to graders: a DataFrame for .csv, dicts for .jsonl."""
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    try:
        return pd.read_csv(path, **_FLOAT_OPTIONS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SpecError(f"answers {path} are not a readable CSV ({' '.join(str(exc).split())})") from None


def run_grader(spec: str, root: Path, text: str, name: str, answers: Any) -> float:
    """Score a submission's text with a custom grader. Anything the grader raises, or a
    result that is not a number, makes the submission invalid with that message."""
    grader = load_grader(spec, Path(root))
    try:
        submission = pd.read_csv(io.StringIO(text), **_FLOAT_OPTIONS)
    except pd.errors.EmptyDataError:
        raise SubmissionError(f"{name}: empty file (no header)") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise SubmissionError(f"{name}: not a valid CSV ({' '.join(str(exc).split())})") from None
    given = answers.copy() if isinstance(answers, pd.DataFrame) else [dict(a) for a in answers]
    try:
        result = grader(submission, given)
    except Exception as exc:  # a grader signals an invalid submission by raising
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise SubmissionError(f"{name}: rejected by grader {spec}: {message}") from None
    try:
        return float(result)
    except (TypeError, ValueError):
        raise SubmissionError(f"{name}: grader {spec} returned {result!r}, not a number") from None
