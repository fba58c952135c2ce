"""Collecting an agent's files onto the host, safely against a hostile agent.

Whatever the agent leaves in /home/submission, /home/logs and /home/code is copied into
the attempt's workdir. The agent controls those trees, so: only regular files and folders
are taken (symlinks, hard links, devices and fifos are skipped, so nothing it links to
on the host is ever read), names must stay inside the destination, and a byte cap per
tree stops a full disk. Secrets are redacted from collected logs and code.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator

from mleray.sandbox.contract import OUTPUT_LOG_NAME, redact

SUBMISSION_CAP = 1024**3           # submission tree: 1 GiB
LOGS_CAP = 256 * 1024**2           # logs tree
CODE_CAP = 256 * 1024**2           # code tree
_REDACT_MAX_FILE = 64 * 1024**2    # larger files are dropped rather than scanned when secrets exist


@dataclass
class Collected:
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # "name (why)"

    def skip(self, name: str, why: str) -> None:
        if len(self.skipped) < 100:
            self.skipped.append(f"{name} ({why})")


def collect_artifacts(
    art: Path, collect_tree: Callable[[str, Path, int], Collected], output: bytes, secrets: dict[str, str]
) -> str:
    """Fill `art` with the submission, logs and code trees (`collect_tree(name, dest, cap)`
    copies one), the agent's output as logs/mleray-agent-output.log, secrets redacted;
    returns a note on skipped files ("" when none)."""
    if art.exists():
        shutil.rmtree(art)
    skipped: list[str] = []
    for name, cap in (("submission", SUBMISSION_CAP), ("logs", LOGS_CAP), ("code", CODE_CAP)):
        skipped.extend(collect_tree(name, art / name, cap).skipped)
    output_path = art / "logs" / OUTPUT_LOG_NAME
    if output_path.is_dir():
        shutil.rmtree(output_path)
    output_path.write_bytes(output)
    for name in ("logs", "code"):
        redact_tree(art / name, secrets)
    return f"skipped {len(skipped)} file(s) in artifacts: {skipped[0]}" if skipped else ""


class _ChunkStream(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (the Docker archive stream)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _safe_relative(name: str) -> PurePosixPath | None:
    """The entry's path below its top folder, or None when it is unsafe or the top itself."""
    parts = PurePosixPath(name).parts
    if not parts or parts[0] == "/" or any(p in ("..", "") for p in parts):
        return None
    return PurePosixPath(*parts[1:]) if len(parts) > 1 else PurePosixPath(".")


def _open_new(path: Path):
    """Create a new file without following a symlink at its place."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    return os.fdopen(fd, "wb")


def extract_archive(chunks: Iterable[bytes], dest: Path, cap_bytes: int) -> Collected:
    """Extract a Docker `get_archive` stream of one folder into the new folder `dest`,
    dropping the archive's top folder name. Regular files and folders only, within a cap."""
    dest.mkdir(parents=True, exist_ok=False)
    collected = Collected()
    with tarfile.open(fileobj=io.BufferedReader(_ChunkStream(chunks)), mode="r|") as archive:
        for member in archive:
            rel = _safe_relative(member.name)
            if rel is None:
                collected.skip(member.name, "unsafe name")
                continue
            target = dest / rel
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif not member.isreg():
                collected.skip(member.name, "not a regular file")
            elif collected.bytes + member.size > cap_bytes:
                collected.skip(member.name, f"over the {cap_bytes} byte cap")
            else:
                _write_member(archive, member, target, collected)
    return collected


def _write_member(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path, collected: Collected) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    source = archive.extractfile(member)
    with _open_new(target) as out:
        while chunk := source.read(1024 * 1024):
            out.write(chunk)
    collected.files += 1
    collected.bytes += member.size


def copy_tree(src: Path, dest: Path, cap_bytes: int) -> Collected:
    """Copy a host folder the agent wrote (local sandbox) into the new folder `dest`,
    never following symlinks, regular files only, within a cap."""
    dest.mkdir(parents=True, exist_ok=False)
    collected = Collected()
    _copy_dir(src, dest, cap_bytes, collected, depth=0)
    return collected


def _copy_dir(src: Path, dest: Path, cap: int, collected: Collected, depth: int) -> None:
    if depth > 32:
        collected.skip(str(src), "too deep")
        return
    with os.scandir(src) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                (dest / entry.name).mkdir()
                _copy_dir(Path(entry.path), dest / entry.name, cap, collected, depth + 1)
            elif not stat.S_ISREG(info.st_mode):
                collected.skip(entry.path, "not a regular file")
            elif collected.bytes + info.st_size > cap:
                collected.skip(entry.path, f"over the {cap} byte cap")
            else:
                copied = copy_file(Path(entry.path), dest / entry.name, cap - collected.bytes)
                collected.files += copied is not None
                collected.bytes += copied or 0


def copy_file(src: Path, dest: Path, cap_bytes: int) -> int | None:
    """Copy one regular file without following a symlink; bytes copied, or None when it
    is missing, not a regular file, or over the cap."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None  # missing, or a symlink (ELOOP)
    with os.fdopen(fd, "rb") as source:
        info = os.fstat(source.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > cap_bytes:
            return None
        data = source.read(cap_bytes + 1)
    if len(data) > cap_bytes:
        return None  # grew past the cap while being read
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _open_new(dest) as out:
        out.write(data)
    return len(data)


def redact_tree(root: Path, secrets: dict[str, str] | None) -> None:
    """Remove secret values from every collected file (an agent may log its own key)."""
    values = [v.encode() for v in (secrets or {}).values() if len(v) >= 4]
    if not values or not root.is_dir():
        return
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        if path.stat().st_size > _REDACT_MAX_FILE:
            path.unlink()  # too large to scan: not kept, so a secret cannot hide in it
            continue
        data = path.read_bytes()
        if any(v in data for v in values):
            text = redact(data.decode("utf-8", "surrogateescape"), secrets)
            path.write_bytes(text.encode("utf-8", "surrogateescape"))


def extract_single_file(chunks: Iterable[bytes], target: Path, cap_bytes: int) -> bool:
    """Write the one regular file in a `get_archive` stream of a file path to `target`;
    False when the entry is not a regular file (e.g. a symlink) or over the cap."""
    with tarfile.open(fileobj=io.BufferedReader(_ChunkStream(chunks)), mode="r|") as archive:
        for member in archive:
            if not member.isreg() or member.size > cap_bytes:
                return False
            target.unlink(missing_ok=True)
            _write_member(archive, member, target, Collected())
            return True
    return False
