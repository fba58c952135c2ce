"""Finding competitions on disk and turning their config.yaml into a `Competition`.

Two folder layouts are accepted:

- mleray's own (`competitions/<id>/config.yaml`, see design.md): data lives in the
  mleray cache, `<data_root()>/<id>/{raw,public,private}`.
- MLE-bench's (`config.yaml` with `dataset`, `grader.grade_fn`, `preparer`): data lives in
  an MLE-bench data dir, `<mlebench_data_root()>/<id>/{raw,prepared/public,prepared/private}`.

Search order: the extra registry paths (argument, else `MLERAY_COMPETITIONS_PATH`), then
the built-in `competitions/` folder; the first folder with a matching id wins.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from mleray.competition import Competition
from mleray.errors import NotFoundError, SpecError
from mleray.grading.metric_names import METRIC_NAMES  # names only: no scikit-learn

_SOURCES = ("builtin", "kaggle")
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_OWN_FIELDS = {
    "id",
    "name",
    "description",
    "metric",
    "grader",
    "lower_is_better",
    "source",
    "kaggle_slug",
    "prepare",
    "answers",
    "sample_submission",
    "id_column",
    "target_columns",
    "leaderboard",
    "notes",
}


# --------------------------------------------------------------------------- locations


def builtin_competitions_dir() -> Path:
    """The repo's `competitions/` folder; `MLERAY_BUILTIN_COMPETITIONS` overrides it."""
    override = os.environ.get("MLERAY_BUILTIN_COMPETITIONS")
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parent.parent / "competitions"


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()


def data_root() -> Path:
    """Where prepared data lives: `MLERAY_DATA_DIR`, default `~/.cache/mleray/data`."""
    override = os.environ.get("MLERAY_DATA_DIR")
    if override:
        return Path(override).expanduser()
    return _cache_home() / "mleray" / "data"


def mlebench_data_root(override: str | os.PathLike | None = None) -> Path:
    """MLE-bench's data dir: the argument, `MLERAY_MLEBENCH_DATA_DIR`, else
    MLE-bench's own default `~/.cache/mle-bench/data`."""
    chosen = override or os.environ.get("MLERAY_MLEBENCH_DATA_DIR")
    if chosen:
        return Path(chosen).expanduser()
    return _cache_home() / "mle-bench" / "data"


def registry_paths(extra_paths: Iterable[str | os.PathLike] | None = None) -> list[Path]:
    """Folders searched for competitions, in priority order (extra first, builtin last).
    A folder may hold competition folders, or be one competition folder itself."""
    if extra_paths is None:
        env = os.environ.get("MLERAY_COMPETITIONS_PATH", "")
        extra_paths = [p for p in env.split(os.pathsep) if p]
    return [Path(p).expanduser() for p in extra_paths] + [builtin_competitions_dir()]


# --------------------------------------------------------------------------- lookup


def _competition_dirs(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for base in paths:
        if (base / "config.yaml").is_file():
            found.append(base)
        elif base.is_dir():
            found.extend(sorted(d for d in base.iterdir() if (d / "config.yaml").is_file()))
    return found


def list_competitions(extra_paths=None, mlebench_data_dir=None) -> list[Competition]:
    """Every competition found, one per id (the first path that defines an id wins)."""
    seen: dict[str, Competition] = {}
    for folder in _competition_dirs(registry_paths(extra_paths)):
        comp = load_competition_dir(folder, mlebench_data_dir=mlebench_data_dir)
        seen.setdefault(comp.id, comp)
    return sorted(seen.values(), key=lambda c: c.id)


def get_competition(competition_id: str, extra_paths=None, mlebench_data_dir=None) -> Competition:
    """The competition with this id; NotFoundError naming the id and the folders searched."""
    paths = registry_paths(extra_paths)
    for folder in _competition_dirs(paths):
        if folder.name == competition_id or _config_id(folder) == competition_id:
            comp = load_competition_dir(folder, mlebench_data_dir=mlebench_data_dir)
            if comp.id == competition_id:
                return comp
    where = ", ".join(str(p) for p in paths)
    raise NotFoundError(f"unknown competition {competition_id!r} (searched {where})")


def _config_id(folder: Path) -> str | None:
    try:
        raw = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return raw.get("id") if isinstance(raw, dict) else None


# --------------------------------------------------------------------------- splits


def splits_dir() -> Path:
    return builtin_competitions_dir() / "splits"


# Split names as MLE-bench's users say them: "Lite" is its low split (22 competitions), "all"
# its 75 (split75.txt), and its own file names without our "mlebench-" prefix.
SPLIT_ALIASES = {
    "lite": "mlebench-low",
    "all": "mlebench-split75",
    **{n: f"mlebench-{n}" for n in ("low", "medium", "high", "dev", "split75", "systemcard")},
}


def list_splits() -> list[str]:
    """Split files' names, then the aliases whose files exist."""
    folder = splits_dir()
    names = sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []
    return names + [a for a, target in SPLIT_ALIASES.items() if target in names and a not in names]


def load_split(name: str) -> list[str]:
    """Competition ids listed in `competitions/splits/<name>.txt` (blank lines and
    `#` comments ignored); an alias (`lite`, `all`, `low`, ...) names another file."""
    path = splits_dir() / f"{name}.txt"
    if not path.is_file() and name in SPLIT_ALIASES:
        path = splits_dir() / f"{SPLIT_ALIASES[name]}.txt"
    if not path.is_file():
        raise NotFoundError(
            f"unknown split {name!r} (no {path}; known: {', '.join(list_splits())})"
        )
    ids = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    first_line: dict[str, int] = {}
    for number, competition_id in enumerate(ids, start=1):
        if competition_id in first_line:  # it would count twice in every per-seed denominator
            raise SpecError(
                f"{path}: line {number}: {competition_id!r} is listed twice "
                f"(first on line {first_line[competition_id]})"
            )
        if competition_id:
            first_line[competition_id] = number
    return list(first_line)


# --------------------------------------------------------------------------- parsing


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" line {line + 1}" if line is not None else ""
        raise SpecError(f"{path}:{where} is not valid YAML") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping of fields, got {type(raw).__name__}")
    return raw


def _field(raw: dict, path: Path, name: str, kind: type | tuple = str, default: Any = ...) -> Any:
    if name not in raw or raw[name] is None:
        if default is ...:
            raise SpecError(f"{path}: missing required field '{name}'")
        return default
    value = raw[name]
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        want = f"non-empty {want}" if kind is str else want
        raise SpecError(f"{path}: field '{name}' must be a {want}, got {value!r}")
    return value


def load_competition_dir(folder: str | os.PathLike, mlebench_data_dir=None) -> Competition:
    """Parse one competition folder (either layout) into a `Competition`."""
    folder = Path(folder).resolve()
    raw = _read_config(folder)
    if "dataset" in raw or "preparer" in raw or isinstance(raw.get("grader"), dict):
        return _load_mlebench(folder, raw, mlebench_data_root(mlebench_data_dir))
    return _load_own(folder, raw)


def _load_own(folder: Path, raw: dict) -> Competition:
    path = folder / "config.yaml"
    unknown = sorted(set(raw) - _OWN_FIELDS)
    if unknown:
        raise SpecError(f"{path}: unknown field '{unknown[0]}'")
    comp_id = _field(raw, path, "id")
    if not _ID_PATTERN.match(comp_id):
        raise SpecError(f"{path}: field 'id' {comp_id!r} must be letters, digits, '.', '_' or '-'")
    metric = _field(raw, path, "metric", default=None)
    grader = _field(raw, path, "grader", default=None)
    if (metric is None) == (grader is None):
        raise SpecError(f"{path}: give exactly one of 'metric' or 'grader'")
    if metric is not None:
        _check_metric(path, metric)
    if grader is not None:
        _check_callable_ref(path, "grader", grader)
    source = _field(raw, path, "source", default="builtin")
    if source not in _SOURCES:
        raise SpecError(f"{path}: field 'source' must be one of {_SOURCES}, got {source!r}")
    kaggle_slug = _field(raw, path, "kaggle_slug", default=None)
    if source == "kaggle" and kaggle_slug is None:
        raise SpecError(f"{path}: missing required field 'kaggle_slug' (source is kaggle)")
    prepare = _field(raw, path, "prepare")
    _check_callable_ref(path, "prepare", prepare)
    targets = _field(raw, path, "target_columns", (list, str))
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    if not targets or not all(isinstance(t, str) and t for t in targets):
        raise SpecError(f"{path}: field 'target_columns' must be a non-empty list of column names")
    description = folder / _field(raw, path, "description", default="description.md")
    if not description.is_file():
        raise SpecError(f"{path}: field 'description' names a missing file {description}")
    return Competition(
        id=comp_id,
        name=_field(raw, path, "name"),
        root=folder,
        description_path=description,
        data_dir=data_root() / comp_id,
        metric=metric,
        grader=grader,
        lower_is_better=_field(raw, path, "lower_is_better", bool, default=None),
        source=source,
        kaggle_slug=kaggle_slug,
        prepare=prepare,
        answers=_field(raw, path, "answers"),
        sample_submission=_field(raw, path, "sample_submission", default="sample_submission.csv"),
        id_column=_field(raw, path, "id_column"),
        target_columns=targets,
        leaderboard_path=folder / _field(raw, path, "leaderboard", default="leaderboard.csv"),
    )


def _check_metric(path: Path, metric: str) -> None:
    if metric not in METRIC_NAMES:
        raise SpecError(
            f"{path}: field 'metric' {metric!r} is not one of {', '.join(sorted(METRIC_NAMES))}"
        )


def _check_callable_ref(path: Path, field: str, ref: str) -> None:
    module, _, func = ref.partition(":")
    if not module or not func:
        raise SpecError(
            f"{path}: field '{field}' must look like 'module:function' or "
            f"'file.py:function', got {ref!r}"
        )


def _load_mlebench(folder: Path, raw: dict, mlebench_root: Path) -> Competition:
    """An MLE-bench competition folder (mlebench/competitions/<id>/)."""
    path = folder / "config.yaml"
    comp_id = _field(raw, path, "id")
    dataset = _field(raw, path, "dataset", dict)
    grader = _field(raw, path, "grader", dict)
    grade_fn = _field(grader, path, "grade_fn")
    _check_callable_ref(path, "grader.grade_fn", grade_fn)
    preparer = _field(raw, path, "preparer")
    _check_callable_ref(path, "preparer", preparer)
    answers = _field(dataset, path, "answers")
    sample = _field(dataset, path, "sample_submission")
    # MLE-bench writes the description path relative to its repo root; the file sits next
    # to config.yaml.
    description = folder / Path(_field(raw, path, "description", default="description.md")).name
    if not description.is_file():
        raise SpecError(f"{path}: field 'description' names a missing file {description}")
    data_dir = mlebench_root / comp_id / "prepared"
    sample_path = mlebench_root / sample
    return Competition(
        id=comp_id,
        name=_field(raw, path, "name", default=comp_id),
        root=folder,
        description_path=description,
        data_dir=data_dir,
        metric=None,
        grader=_local_ref(folder, grade_fn, as_file=False),
        lower_is_better=None,
        source="mlebench",
        kaggle_slug=comp_id,
        prepare=_local_ref(folder, preparer, as_file=True),
        answers=os.path.relpath(mlebench_root / answers, data_dir / "private"),
        sample_submission=os.path.relpath(sample_path, data_dir / "public"),
        # MLE-bench's config names neither: `data.ensure_prepared` reads them off the
        # prepared sample submission and public test table (validate.sample_layout)
        id_column="",
        target_columns=(),
        leaderboard_path=folder / "leaderboard.csv",
    )


def _local_ref(folder: Path, ref: str, as_file: bool) -> str:
    """'mlebench.competitions.<id>.grade:grade' stays as is when importable (MLE-bench is
    installed); otherwise it names `grade.py` next to config.yaml: as 'grade.py:grade'
    (`load_callable`) or as 'grade:grade' (a module the grader resolves under the folder)."""
    module, _, func = ref.partition(":")
    try:
        if importlib.util.find_spec(module) is not None:
            return ref
    except (ImportError, ValueError):
        pass
    stem = module.rsplit(".", 1)[-1]
    if not (folder / f"{stem}.py").is_file():
        return ref
    return f"{stem}.py:{func}" if as_file else f"{stem}:{func}"


# --------------------------------------------------------------------------- callables


def load_callable(comp: Competition, ref: str) -> Callable:
    """Resolve 'module:function' or 'file.py:function' (relative to the competition's
    folder) to the function. A module that is not importable is tried as a file too."""
    module_name, _, func_name = ref.partition(":")
    module = None
    if not module_name.endswith(".py"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module_name = f"{module_name.rsplit('.', 1)[-1]}.py"
    if module is None:
        module = _import_file(comp, comp.root / module_name)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise SpecError(f"{comp.root / 'config.yaml'}: {ref!r} has no function {func_name!r}")
    return func


def _import_file(comp: Competition, file: Path):
    if not file.is_file():
        raise SpecError(f"{comp.root / 'config.yaml'}: no file {file}")
    safe = re.sub(r"\W", "_", f"{comp.id}_{file.stem}")
    name = f"mleray_competition_{safe}"
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # loaded afresh each time: the file may have changed
    spec.loader.exec_module(module)
    return module
