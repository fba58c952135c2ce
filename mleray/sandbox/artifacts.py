"""Collecting an agent's files onto the host, safely against a hostile agent.

Whatever the agent leaves in /home/submission, /home/logs and /home/code is copied into
the attempt's workdir. The agent controls those trees, so: only regular files and folders
are taken (symlinks, hard links, devices and fifos are skipped, so nothing it links to
on the host is ever read), names must stay inside the destination, and caps per tree on
bytes, entries and depth stop a full disk or a tree of millions of files. A name the host
cannot create (too long, say) is skipped, never an error. Reading an archive stream stops
once too many bytes were passed over (a sparse file of terabytes would otherwise be
streamed, zeros and all, for hours). Secrets are redacted from collected logs and code.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mleray.sandbox.contract import OUTPUT_LOG_NAME, redact

SUBMISSION_CAP = 1024**3  # submission tree: 1 GiB
LOGS_CAP = 256 * 1024**2  # logs tree
CODE_CAP = 256 * 1024**2  # code tree
_REDACT_MAX_FILE = 64 * 1024**2  # larger files are dropped rather than scanned when secrets exist
MAX_ENTRIES = 50_000  # files and folders per tree
MAX_DEPTH = 32  # folder levels below a tree's top
PASS_OVER_BUDGET = 4 * 1024**3  # archive bytes read and dropped per tree before giving up


@dataclass
class Collected:
    files: int = 0
    bytes: int = 0
    entries: int = 0  # files and folders seen, kept or not
    skipped: list[str] = field(default_factory=list)  # "name (why)"

    def skip(self, name: str, why: str) -> None:
        if len(self.skipped) < 100:
            self.skipped.append(f"{name} ({why})")


def collect_artifacts(
    art: Path,
    collect_tree: Callable[[str, Path, int], Collected],
    output: bytes,
    secrets: dict[str, str],
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

    def close(self) -> None:
        # ends the Docker response: the engine stops streaming (and can remove the container)
        close = getattr(self._chunks, "close", None)
        if close is not None and not self.closed:
            close()
        super().close()

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


@contextmanager
def _archive_stream(chunks: Iterable[bytes]) -> Iterator[tarfile.TarFile]:
    """A tar reader over a Docker archive stream, which it ends on leaving."""
    stream = io.BufferedReader(_ChunkStream(chunks))
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            yield archive
    finally:
        stream.close()


def extract_archive(chunks: Iterable[bytes], dest: Path, cap_bytes: int) -> Collected:
    """Extract a Docker `get_archive` stream of one folder into the new folder `dest`,
    dropping the archive's top folder name. Regular files and folders only, within caps."""
    dest.mkdir(parents=True, exist_ok=False)
    collected, passed_over = Collected(), 0
    with _archive_stream(chunks) as archive:
        for member in archive:
            collected.entries += 1
            if collected.entries > MAX_ENTRIES:
                collected.skip(member.name, f"stopped: over {MAX_ENTRIES} entries")
                break
            rel = _safe_relative(member.name)
            if rel is None:
                collected.skip(member.name, "unsafe name")
            elif len(rel.parts) > MAX_DEPTH:
                collected.skip(member.name, f"deeper than {MAX_DEPTH} folders")
            elif member.isdir():
                _make_dir(dest / rel, member.name, collected)
            elif not member.isreg():
                collected.skip(member.name, "not a regular file")
            elif collected.bytes + member.size <= cap_bytes:
                _write_member(archive, member, dest / rel, collected)
            elif passed_over + member.size > PASS_OVER_BUDGET:
                collected.skip(
                    member.name, f"stopped: {member.size} bytes over the {cap_bytes} byte cap"
                )
                break  # reading past it would stream every byte of it
            else:
                passed_over += member.size
                collected.skip(member.name, f"over the {cap_bytes} byte cap")
    return collected


def _make_dir(target: Path, name: str, collected: Collected) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a name too long for this host, or a file in the way
        collected.skip(name, exc.strerror or type(exc).__name__)


def _write_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path, collected: Collected
) -> None:
    source = archive.extractfile(member)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = _open_new(target)
    except OSError as exc:  # a name too long for this host, or a file in the way
        collected.skip(member.name, exc.strerror or type(exc).__name__)
        return
    with out:
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
    if depth > MAX_DEPTH:
        collected.skip(str(src), f"deeper than {MAX_DEPTH} folders")
        return
    with os.scandir(src) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            collected.entries += 1
            if collected.entries > MAX_ENTRIES:
                collected.skip(entry.path, f"stopped: over {MAX_ENTRIES} entries")
                return
            info = entry.stat(follow_symlinks=False)
            try:
                _copy_entry(entry, info, dest, cap, collected, depth)
            except OSError as exc:  # a name too long for the destination, say
                collected.skip(entry.path, exc.strerror or type(exc).__name__)


def _copy_entry(
    entry: os.DirEntry, info: os.stat_result, dest: Path, cap: int, collected: Collected, depth: int
) -> None:
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


def redact_file(path: Path, secrets: dict[str, str] | None) -> None:
    """Remove secret values from a submission or snapshot (read whole: it travels to
    grading as bytes anyway), so nothing derived from it (grading's messages quote cells,
    the stored copy) can carry one; a cell holding a secret becomes `[secret]`."""
    values = sorted((v.encode() for v in (secrets or {}).values() if len(v) >= 4), key=len)
    if not values:
        return
    data = redacted = path.read_bytes()
    for value in reversed(values):  # longest first, as `redact`
        redacted = redacted.replace(value, b"[secret]")
    if redacted != data:
        path.write_bytes(redacted)


def extract_single_file(chunks: Iterable[bytes], target: Path, cap_bytes: int) -> bool:
    """Write the one regular file in a `get_archive` stream of a file path to `target`;
    False when the entry is not a regular file (e.g. a symlink) or over the cap."""
    with _archive_stream(chunks) as archive:
        for member in archive:
            if not member.isreg() or member.size > cap_bytes:
                return False
            target.unlink(missing_ok=True)
            collected = Collected()
            _write_member(archive, member, target, collected)
            return collected.files == 1
    return False
