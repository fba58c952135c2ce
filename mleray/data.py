"""Preparing a competition's data: raw -> public/private, a checksum manifest, the cache.

Layout (mleray's own competitions): `<data_root>/<id>/raw`, `public`, `private` and
`manifest.json`. MLE-bench competitions use MLE-bench's layout in its data dir: `<id>/raw`
(downloaded through the Kaggle API, or extracted from the `<id>.zip` that `mlebench prepare`
leaves) and
`<id>/prepared/{public,private,manifest.json}`, made by the folder's own preparer, called as
MLE-bench calls it, and checked against its checksums.yaml as `mlebench prepare` checks.

`manifest.json` is the commit marker. Preparing runs the competition's
`prepare(raw, public, private)` in a staging folder, deletes the old manifest, renames the
staged folders into place, and writes the manifest last (atomically), so a crash at any
point leaves a cache that `ensure_prepared` reports as not prepared, never a half-prepared
one that looks ready. A file lock serialises concurrent preparers of one competition.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mleray import __version__
from mleray.competition import Competition
from mleray.errors import MlerayError, NotPreparedError, SpecError
from mleray.grading.packages import missing_package

MANIFEST = "manifest.json"
# Files larger than this are checked by size on use, not hashed (MLE-bench datasets reach
# hundreds of GB); their sha256 is still recorded.
HASH_ON_USE_LIMIT = 64 * 1024 * 1024


def raw_dir_of(comp: Competition) -> Path:
    """Where raw files live: `<data_dir>/raw`, or `<id>/raw` beside MLE-bench's `prepared/`."""
    return comp.data_dir.parent / "raw" if comp.source == "mlebench" else comp.raw_dir


def manifest_path(comp: Competition) -> Path:
    return comp.data_dir / MANIFEST


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_records(base: Path, folders: tuple[str, ...]) -> dict[str, dict]:
    records = {}
    for folder in folders:
        for path in sorted((base / folder).rglob("*")):
            if path.is_file():
                rel = path.relative_to(base).as_posix()
                records[rel] = {"sha256": sha256_of(path), "size": path.stat().st_size}
    return records


# --------------------------------------------------------------------------- checking


def is_prepared(comp: Competition) -> bool:
    try:
        ensure_prepared(comp)
    except NotPreparedError:
        return False
    return True


def ensure_prepared(comp: Competition) -> Competition:
    """Check the prepared files against the manifest; return the competition (with its
    id and target columns filled from the sample submission where the config lacked them).
    NotPreparedError when missing or when any file differs from its recorded checksum."""
    manifest = manifest_path(comp)
    if not manifest.is_file():
        if (
            comp.source == "mlebench"
            and comp.answers_path.is_file()
            and comp.sample_submission_path.is_file()
        ):
            return _with_sample_columns(
                comp
            )  # prepared by MLE-bench itself: nothing to check against
        raise NotPreparedError(
            f"competition {comp.id} is not prepared: run `mleray prepare {comp.id}`"
        )
    try:
        recorded = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise NotPreparedError(
            f"checksum manifest {manifest} is unreadable: run `mleray prepare {comp.id} --force`"
        ) from None
    for rel, record in recorded.items():
        _check_file(comp, rel, record)
    present = _file_records_names(comp.data_dir)
    extra = sorted(present - set(recorded))
    if extra:
        raise NotPreparedError(
            f"unexpected file {comp.data_dir / extra[0]} in prepared data of {comp.id}: "
            f"run `mleray prepare {comp.id} --force`"
        )
    return _with_sample_columns(comp)


def _file_records_names(base: Path) -> set[str]:
    names = set()
    for folder in ("public", "private"):
        names.update(
            p.relative_to(base).as_posix() for p in (base / folder).rglob("*") if p.is_file()
        )
    return names


def _check_file(comp: Competition, rel: str, record: dict) -> None:
    path = comp.data_dir / rel
    hint = f"run `mleray prepare {comp.id} --force`"
    if not path.is_file():
        raise NotPreparedError(f"missing file {path} of prepared competition {comp.id}: {hint}")
    size = path.stat().st_size
    if size != record["size"] or (
        size <= HASH_ON_USE_LIMIT and sha256_of(path) != record["sha256"]
    ):
        raise NotPreparedError(f"checksum mismatch in {path}: {hint}")


def _with_sample_columns(comp: Competition) -> Competition:
    """An MLE-bench competition's id and target columns, as the agent's validator infers them
    from the sample submission and the public test table (id "" where none identifies rows:
    an MLE-bench sample may begin with its target, as Insult,Date,Comment does)."""
    if comp.id_column and comp.target_columns:
        return comp
    from mleray.grading.validate import SubmissionError, read_csv_strict, sample_layout

    path = comp.sample_submission_path
    try:
        layout = sample_layout(read_csv_strict(path, 2**62, max_columns=None), path)
    except SubmissionError as exc:
        raise SpecError(f"competition {comp.id}: sample submission unusable: {exc}") from None
    return dataclasses.replace(
        comp, id_column=layout.id_column or "", target_columns=layout.predictions
    )


# --------------------------------------------------------------------------- preparing


def prepare_competition(comp: Competition, force: bool = False, verify: bool = True) -> Path:
    """Make `comp`'s public and private files (idempotent); returns its data dir. An
    MLE-bench competition's are checked against its checksums.yaml unless `verify` is off."""
    comp.data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(comp.data_dir.parent / f".{comp.data_dir.name}.lock"):
        if not force and is_prepared(comp):  # MLE-bench-prepared data too (no manifest)
            return comp.data_dir
        raw = _ensure_raw(comp)
        with tempfile.TemporaryDirectory(prefix=".staging-", dir=comp.data_dir) as staging:
            staged = Path(staging)
            _run_prepare(comp, raw, staged)
            if verify:
                _check_mlebench_checksums(comp, staged)
            _commit(comp, staged, raw)
    return comp.data_dir


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_raw(comp: Competition) -> Path:
    """Builtin raw data is regenerated every time (cheap, deterministic). Downloaded raw
    data is kept once complete (a marker file; for MLE-bench, a non-empty raw dir made by
    its own tools) and reused, even with force: delete the raw dir to download again."""
    raw = raw_dir_of(comp)
    marker = raw.parent / f".{raw.name}-complete"
    if comp.source != "builtin" and marker.is_file():
        return raw
    if comp.source == "mlebench" and raw.is_dir() and any(raw.iterdir()):
        return raw
    marker.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix=".raw-", dir=raw.parent) as staging:
        staged = Path(staging) / "raw"
        staged.mkdir()
        mlebench_zip = raw.parent / f"{comp.id}.zip"  # where `mlebench prepare` downloads
        if comp.source == "builtin":
            _builtin_raw_maker(comp)(staged)
        elif comp.source == "mlebench" and mlebench_zip.is_file():
            from mleray.kaggle_source import extract_zip

            extract_zip(mlebench_zip, staged)
        else:
            from mleray.kaggle_source import download_competition

            download_competition(comp.kaggle_slug or comp.id, staged)
        if raw.exists():
            shutil.rmtree(raw)
        staged.rename(raw)
    marker.write_text(datetime.now(UTC).isoformat())
    return raw


def _builtin_raw_maker(comp: Competition):
    """A builtin's raw data comes from `make_raw(raw)` beside its prepare function."""
    from mleray.registry import load_callable

    module_ref = comp.prepare.partition(":")[0]
    return load_callable(comp, f"{module_ref}:make_raw")


def _run_prepare(comp: Competition, raw: Path, staged: Path) -> None:
    from mleray.registry import load_callable

    public, private = staged / "public", staged / "private"
    public.mkdir()
    private.mkdir()
    try:
        prepare = load_callable(comp, comp.prepare)
        if comp.source != "mlebench":
            prepare(raw, public, private)
        else:  # as MLE-bench calls its preparers; their failures are one line
            try:
                prepare(raw=raw, public=public, private=private)
            except Exception as exc:
                if isinstance(exc, (MlerayError, ModuleNotFoundError)):
                    raise
                raise SpecError(
                    f"MLE-bench preparer {comp.prepare!r} of {comp.id} failed"
                    f"{_where(exc, comp.root)}: {type(exc).__name__}: {_one_line(exc)}"
                ) from None
    except ModuleNotFoundError as exc:
        raise missing_package(f"preparer {comp.prepare!r} of {comp.id}", exc) from None
    if not (public / "description.md").exists():
        shutil.copyfile(comp.description_path, public / "description.md")
    for path, what in (
        (private / comp.answers, "answers"),
        (public / comp.sample_submission, "sample submission"),
    ):
        if not path.is_file():
            raise SpecError(
                f"{comp.root / 'config.yaml'}: prepare {comp.prepare!r} wrote no {what} "
                f"{path.relative_to(staged)}"
            )


def _where(exc: BaseException, root: Path) -> str:
    """' (prepare.py line 47)': the innermost frame of the competition's own code."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).is_relative_to(root)
    ]
    return f" ({Path(frames[-1].filename).name} line {frames[-1].lineno})" if frames else ""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _check_mlebench_checksums(comp: Competition, staged: Path) -> None:
    """The prepared files as MLE-bench checks them: the md5 of each top-level csv, json,
    jsonl, parquet and bson file of public/ and private/ against the competition's
    checksums.yaml (where it has one). A difference means other raw data or other library
    versions than MLE-bench's, so grades could differ from MLE-bench's."""
    path = comp.root / "checksums.yaml"
    if comp.source != "mlebench" or not path.is_file():
        return
    try:
        expected = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise SpecError(f"{path} is not valid YAML") from None
    for folder in ("public", "private"):
        want = expected.get(folder) or {}
        have = {p.name: _md5_of(p) for p in sorted((staged / folder).iterdir()) if _checked(p)}
        for name in sorted(set(want) | set(have)):
            if want.get(name) == have.get(name):
                continue
            if name not in have:
                why = f"is missing: MLE-bench's {path} lists it"
            elif name not in want:
                why = f"is not in MLE-bench's {path}"
            else:
                why = f"differs from MLE-bench's (md5 {have[name]}; {path} says {want[name]})"
            raise NotPreparedError(
                f"competition {comp.id}: prepared {folder}/{name} {why}; to keep the data "
                f"anyway: mleray prepare {comp.id} --force --skip-verification"
            )


def _checked(path: Path) -> bool:  # the files MLE-bench checksums
    return path.is_file() and path.suffix[1:] in ("csv", "json", "jsonl", "parquet", "bson")


def _md5_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def _commit(comp: Competition, staged: Path, raw: Path) -> None:
    """Swap the staged public/private folders in; the manifest is written last."""
    manifest = manifest_path(comp)
    manifest.unlink(missing_ok=True)
    for folder in ("public", "private"):
        target = comp.data_dir / folder
        if target.exists():
            shutil.rmtree(target)
        (staged / folder).rename(target)
    body = {
        "competition_id": comp.id,
        "source": comp.source,
        "prepared_at": datetime.now(UTC).isoformat(),
        "mleray_version": __version__,
        "files": _file_records(comp.data_dir, ("public", "private")),
        "raw": _file_records(raw.parent, (raw.name,)),
    }
    tmp = manifest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    os.replace(tmp, manifest)


def checksums(comp: Competition) -> dict[str, str]:
    """`{relative path: sha256}` of the prepared public and private files, from the manifest."""
    ensure_prepared(comp)
    files = json.loads(manifest_path(comp).read_text())["files"]
    return {rel: record["sha256"] for rel, record in files.items()}


# --------------------------------------------------------------------------- prepare helpers


def split_rows(frame, test_fraction: float, seed: int, stratify: str | None = None):
    """A deterministic train/test split of a labelled table (for `prepare` functions)."""
    from sklearn.model_selection import train_test_split

    labels = frame[stratify] if stratify else None
    train, test = train_test_split(
        frame, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return train.sort_values(frame.columns[0]), test.sort_values(frame.columns[0])


def write_split(public: Path, private: Path, train, test_features, answers, sample) -> None:
    """The usual prepared files: public train.csv (with labels), test.csv (without),
    sample_submission.csv; private test.csv (the answers, the sample's exact columns)."""
    if list(answers.columns) != list(sample.columns) or len(answers) != len(sample):
        raise ValueError("answers and sample submission must have the same columns and rows")
    train.to_csv(public / "train.csv", index=False)
    test_features.to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    answers.to_csv(private / "test.csv", index=False)


def prepare_single_target(
    raw_csv: Path,
    public: Path,
    private: Path,
    *,
    target: str,
    test_fraction: float,
    seed: int,
    stratify: bool,
    sample_value,
) -> None:
    """The whole `prepare` of a one-target table whose first column is the id: split,
    write, and a constant sample submission (`sample_value`, or a function of the train
    split giving it, e.g. the training mean)."""
    import pandas as pd

    frame = pd.read_csv(raw_csv)
    train, test = split_rows(frame, test_fraction, seed, stratify=target if stratify else None)
    answers = test[[frame.columns[0], target]]
    constant = sample_value(train[target]) if callable(sample_value) else sample_value
    write_split(
        public,
        private,
        train,
        test.drop(columns=target),
        answers,
        answers.assign(**{target: constant}),
    )
