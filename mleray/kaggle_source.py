"""Downloading a competition's raw files through the `kaggle` package's API.

The `kaggle` package authenticates when imported and prints a help text then exits when
no credentials exist, so it is imported lazily, quietly, and `SystemExit` is caught. Every
failure becomes one `MlerayError` line: missing credentials, rules not accepted (403),
unknown competition (404), or a network failure.
"""

from __future__ import annotations

import contextlib
import io
import socket
import zipfile
from pathlib import Path
from typing import Any

from mleray.errors import MlerayError


class KaggleError(MlerayError):
    """A Kaggle download that cannot proceed (credentials, rules, not found, network)."""


_CREDENTIALS_HELP = (
    "Kaggle credentials not found: put your API token in ~/.kaggle/kaggle.json "
    "(or ~/.kaggle/access_token), or set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)"
)


def make_api() -> Any:
    """An authenticated `KaggleApi`, or KaggleError when credentials are missing."""
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            from kaggle.api.kaggle_api_extended import KaggleApi
    except SystemExit:  # older kaggle releases exit from their __init__ without credentials
        raise KaggleError(_CREDENTIALS_HELP) from None
    except ImportError as exc:
        raise KaggleError(
            f"the kaggle package cannot be imported ({exc}): pip install kaggle six"
        ) from None
    api = KaggleApi()
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            api.authenticate()
    except SystemExit:
        raise KaggleError(_CREDENTIALS_HELP) from None
    except Exception as exc:  # a bad token file or an unreachable token check
        raise KaggleError(f"Kaggle authentication failed: {_one_line(exc)}") from None
    return api


def download_competition(slug: str, dest: Path, api: Any = None) -> list[Path]:
    """Download every file of Kaggle competition `slug` into `dest`, unzip the archives
    (then delete them), and return the files now in `dest`, sorted."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    api = api if api is not None else make_api()
    try:
        api.competition_download_files(slug, path=str(dest), quiet=True)
    except SystemExit:
        raise KaggleError(_CREDENTIALS_HELP) from None
    except Exception as exc:
        raise _classify(slug, exc) from None
    for archive in sorted(dest.glob("*.zip")):
        _unzip(archive, dest)
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    if not files:
        raise KaggleError(f"Kaggle download of {slug!r} produced no files in {dest}")
    return files


def _unzip(archive: Path, dest: Path) -> None:
    extract_zip(archive, dest)
    archive.unlink()


def extract_zip(archive: Path, dest: Path) -> None:
    """Extract `archive` into `dest` (not the archives inside it: MLE-bench's preparers
    extract those themselves), refusing members that would land outside `dest`."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            root = dest.resolve()
            for member in zipped.namelist():  # refuse paths escaping dest (zip slip)
                target = (dest / member).resolve()
                if root != target and root not in target.parents:
                    raise KaggleError(f"{archive}: member {member!r} escapes the download folder")
            zipped.extractall(dest)
    except zipfile.BadZipFile:
        raise KaggleError(f"{archive} is not a valid zip archive (incomplete download?)") from None


def _status_of(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _classify(slug: str, exc: Exception) -> KaggleError:
    status = _status_of(exc)
    url = f"https://www.kaggle.com/competitions/{slug}/rules"
    if status == 401:
        return KaggleError(
            f"Kaggle rejected the credentials (HTTP 401) for {slug!r}: check your API token"
        )
    if status == 403:
        return KaggleError(
            f"Kaggle refused {slug!r} (HTTP 403): accept the competition rules at {url}"
        )
    if status == 404:
        return KaggleError(f"Kaggle competition {slug!r} not found (HTTP 404): check kaggle_slug")
    if status is not None:
        return KaggleError(
            f"Kaggle download of {slug!r} failed with HTTP {status}: {_one_line(exc)}"
        )
    if _is_network_error(exc):
        return KaggleError(f"network failure downloading {slug!r} from Kaggle: {_one_line(exc)}")
    return KaggleError(
        f"Kaggle download of {slug!r} failed: {type(exc).__name__}: {_one_line(exc)}"
    )


def _is_network_error(exc: Exception) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    try:
        import requests
    except ImportError:
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
