"""A stand-in for kaggle's API, so download paths are tested without a network."""

from __future__ import annotations

from pathlib import Path


class FakeApi:
    """Stands in for kaggle's KaggleApi: 'downloads' a zip made locally, or fails."""

    def __init__(self, zip_source: Path | None = None, error: Exception | None = None):
        self.zip_source, self.error, self.calls = zip_source, error, []

    def competition_download_files(self, competition, path=None, force=False, quiet=True):
        self.calls.append((competition, path))
        if self.error is not None:
            raise self.error
        Path(path, f"{competition}.zip").write_bytes(self.zip_source.read_bytes())
