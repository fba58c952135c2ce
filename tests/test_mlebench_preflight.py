"""`check_gradable`: before any agent runs, a competition whose grader cannot be imported or
whose leaderboard is a Git LFS pointer is one error line saying what to do (MLE-bench's
graders all import `mlebench`; two need pyquaternion or pycocotools; a clone without
`git lfs pull` has pointer files for leaderboards)."""

from __future__ import annotations

import sys

import pytest

from mleray import registry
from mleray.errors import SpecError
from mleray.grading import MissingPackageError, check_gradable, grade_submission
from mleray.grading.custom import load_grader
from mleray.grading.packages import install_hint
from tests.helpers.mlebench_layout import write_competition

GRADE = "def grade(submission, answers):\n    return 1.0\n"
POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 1894\n"
)


@pytest.fixture
def mle(tmp_path, monkeypatch):
    monkeypatch.setenv("MLERAY_MLEBENCH_DATA_DIR", str(tmp_path / "mle-data"))
    load_grader.cache_clear()  # graders are rewritten between tests
    yield tmp_path / "registry"
    load_grader.cache_clear()


def _check(reg, competition_id="toy-mle"):
    check_gradable(registry.get_competition(competition_id, extra_paths=[reg]))


def test_a_grader_that_imports_is_gradable_without_answers_or_submissions(mle):
    write_competition(mle, "toy-mle", grade=GRADE)
    _check(mle)  # nothing prepared: the check needs the grader and the leaderboard only
    check_gradable(registry.get_competition("digits-accuracy", extra_paths=[]))


@pytest.mark.parametrize(
    "imports, package, hint",
    [
        (
            "from mlebench.grade_helpers import InvalidSubmissionError",
            "mlebench",
            "pip install -e path/to/mle-bench",
        ),
        ("from pyquaternion import Quaternion", "pyquaternion", "pip install pyquaternion"),
        ("from pycocotools import mask", "pycocotools", "pip install pycocotools"),
        ("from PIL import Image", "PIL", "pip install pillow"),
    ],
)
def test_a_missing_package_is_one_line_with_its_install_command(
    mle, monkeypatch, imports, package, hint
):
    monkeypatch.setitem(sys.modules, package, None)  # missing, whatever is installed here
    write_competition(mle, "toy-mle", grade=f"{imports}\n\n{GRADE}")
    with pytest.raises(MissingPackageError) as caught:
        _check(mle)
    message = str(caught.value)
    assert "\n" not in message
    assert f"needs the package {package!r}, which is not installed here: {hint}" in message
    assert "grade.py" in message  # which grader


def test_an_importable_grader_module_missing_a_dependency(tmp_path, monkeypatch):
    """With MLE-bench installed its graders are imported by module name, not from a file."""
    package = tmp_path / "site" / "fakebench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "grade.py").write_text(f"import pyquaternion\n\n{GRADE}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(sys.modules, "pyquaternion", None)
    with pytest.raises(MissingPackageError, match="grader 'fakebench.grade:grade' needs the"):
        load_grader("fakebench.grade:grade", tmp_path)


def test_install_hints():
    assert install_hint("mlebench.competitions.utils").startswith("pip install -e ")
    assert install_hint("sklearn.metrics") == "pip install scikit-learn"
    assert install_hint("Levenshtein") == "pip install levenshtein"
    assert install_hint("shapely.geometry") == "pip install shapely"


def test_a_git_lfs_pointer_leaderboard_names_git_lfs_pull(mle, tmp_path):
    folder = write_competition(mle, "toy-mle", grade=GRADE)
    (folder / "leaderboard.csv").write_text(POINTER)
    with pytest.raises(SpecError) as caught:
        _check(mle)
    message = str(caught.value)
    assert "is a Git LFS pointer" in message and "git lfs pull" in message
    assert "\n" not in message
    competition = registry.get_competition("toy-mle", extra_paths=[mle])
    with pytest.raises(SpecError, match="git lfs pull"):  # grading says the same
        grade_submission(competition, tmp_path / "none.csv")


def test_a_direction_contradicting_the_metric_is_caught(tmp_path):
    import shutil

    root = tmp_path / "digits-accuracy"
    shutil.copytree(registry.builtin_competitions_dir() / "digits-accuracy", root)
    config = (root / "config.yaml").read_text()
    (root / "config.yaml").write_text(
        config.replace("lower_is_better: false", "lower_is_better: true")
    )
    with pytest.raises(SpecError, match="lower_is_better=True, but metric accuracy"):
        check_gradable(registry.get_competition("digits-accuracy", extra_paths=[root]))
