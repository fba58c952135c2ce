"""Checking that a secret went nowhere: every file under a folder, read as what it holds.

A results folder keeps rows in Parquet (compressed: a byte search can miss a string there)
and logs and code in tar.gz archives, so each file is searched as its decoded content too:
Parquet tables value by value, archives member by member, gzip files uncompressed.

    python -m mleray.gateway.audit FOLDER... --secret-env VAR

prints every place the value of VAR occurs and exits 1 if there is one, 0 if none.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

MAX_BYTES = 512 * 1024**2  # a member or file larger than this is searched raw only


def _parquet_text(path: Path) -> bytes:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return "\0".join(
        str(value) for column in table.to_pylist() for value in column.values()
    ).encode()


def _contents(path: Path, data: bytes) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of a file: raw, and decoded where it is an archive, gzip or Parquet."""
    yield str(path), data
    name = path.name
    try:
        if name.endswith(".parquet"):
            yield f"{path} (rows)", _parquet_text(path)
        elif name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(path) as archive:
                for member in archive:
                    if member.isfile() and member.size <= MAX_BYTES:
                        handle = archive.extractfile(member)
                        if handle is not None:
                            yield f"{path}:{member.name}", handle.read()
        elif name.endswith(".gz"):
            yield f"{path} (gunzipped)", gzip.decompress(data)
    except (OSError, EOFError, tarfile.TarError, zlib.error, ValueError):
        yield f"{path} (unreadable as {path.suffix})", b""


def find_secret(folders: list[str | os.PathLike], secret: str) -> tuple[list[str], int]:
    """(every place `secret` occurs, files searched) under `folders`."""
    needle, places, searched = secret.encode(), [], 0
    for folder in folders:
        root = Path(folder)
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*"))
        for path in paths:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_BYTES:
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            searched += 1
            places += [where for where, content in _contents(path, data) if needle in content]
    return places, searched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mleray.gateway.audit", description=__doc__)
    parser.add_argument("folders", nargs="+", help="folders (or files) to search")
    parser.add_argument("--secret-env", required=True, help="variable holding the secret")
    args = parser.parse_args(argv)
    secret = os.environ.get(args.secret_env)
    if not secret or len(secret) < 8:
        print(f"error: {args.secret_env} must hold the secret (8+ characters)", file=sys.stderr)
        return 2
    places, searched = find_secret(args.folders, secret)
    for place in places:
        print(f"found {args.secret_env}'s value in {place}")
    print(
        f"{searched} files searched (archives and Parquet rows decoded): "
        f"{len(places)} holding {args.secret_env}'s value"
    )
    return 1 if places else 0


if __name__ == "__main__":
    raise SystemExit(main())
