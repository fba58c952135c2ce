"""Packages a competition's own code needs: a missing one is one line naming it and how to
install it. Every MLE-bench grader and preparer imports `mlebench` (installed from the
user's clone); a few need more (pyquaternion, pycocotools, Levenshtein, ...)."""

from __future__ import annotations

from mleray.errors import SpecError

MLEBENCH_HINT = "pip install -e path/to/mle-bench (your clone of MLE-bench)"

# import name -> the distribution pip installs it from, where the two differ
_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "Levenshtein": "levenshtein",
    "bson": "pymongo",
    "cv2": "opencv-python",
    "skimage": "scikit-image",
    "yaml": "pyyaml",
}


class MissingPackageError(SpecError):
    """A grader or preparer imports a package that is not installed where it runs."""


def install_hint(module: str) -> str:
    """How to install the package that provides `module` (a dotted import name)."""
    top = module.partition(".")[0]
    if top == "mlebench":
        return MLEBENCH_HINT
    return f"pip install {_DISTRIBUTIONS.get(top, top)}"


def missing_package(what: str, exc: ModuleNotFoundError) -> MissingPackageError:
    """The error for `what` (e.g. "grader 'grade:grade' (/path/grade.py)") failing to import
    `exc.name`."""
    name = exc.name or str(exc)
    return MissingPackageError(
        f"{what} needs the package {name.partition('.')[0]!r}, which is not installed "
        f"here: {install_hint(name)}"
    )
