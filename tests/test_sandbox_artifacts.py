"""Collecting a hostile agent's trees from a Docker archive stream, without Docker: names
the host cannot create, deep and wide trees, and terabyte (sparse) files must neither
crash collection nor keep it reading for hours."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

from mleray.sandbox import artifacts


def tar_bytes(entries: list[tuple[str, bytes | None]]) -> bytes:
    """A tar of `(name, data)` entries; data None is a folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def chunked(data: bytes, size: int = 4096):
    for start in range(0, len(data), size):
        yield data[start : start + size]


class EndlessSparseFile:
    """A Docker archive stream of `code/` holding one file of `size` bytes of zeros, then
    `after.txt`: what the engine streams for `truncate -s 1T`. Counts what was read."""

    def __init__(self, size: int):
        header = tarfile.TarInfo("code/huge.bin")
        header.size = size
        folder = tarfile.TarInfo("code")
        folder.type = tarfile.DIRTYPE
        self.head = folder.tobuf(format=tarfile.PAX_FORMAT) + header.tobuf(
            format=tarfile.PAX_FORMAT
        )
        self.read = 0
        self.closed = False

    def __iter__(self):
        try:
            yield self.head
            while True:
                self.read += 1 << 20
                yield bytes(1 << 20)
        finally:
            self.closed = True


def test_names_too_long_for_the_host_are_skipped(tmp_path):
    deep = "/".join(["d" * 250] * 20)  # 20 levels, ~5000 bytes: over PATH_MAX on the host
    stream = tar_bytes(
        [
            ("code", None),
            (f"code/{deep}", None),
            (f"code/{deep}/f.txt", b"x"),
            ("code/ok.txt", b"kept"),
        ]
    )
    collected = artifacts.extract_archive(chunked(stream), tmp_path / "code", 1024)
    assert (tmp_path / "code" / "ok.txt").read_bytes() == b"kept"
    assert collected.files == 1 and any("too long" in s for s in collected.skipped), (
        collected.skipped
    )


def test_trees_deeper_than_the_cap_are_cut(tmp_path):
    levels = [f"code/{'/'.join(['d'] * n)}" for n in range(1, artifacts.MAX_DEPTH + 3)]
    stream = tar_bytes(
        [("code", None), *[(name, None) for name in levels], (f"{levels[-1]}/f.txt", b"x")]
    )
    collected = artifacts.extract_archive(chunked(stream), tmp_path / "code", 1024)
    deepest = max(
        len(p.relative_to(tmp_path / "code").parts) for p in (tmp_path / "code").rglob("*")
    )
    assert deepest == artifacts.MAX_DEPTH and collected.files == 0
    assert any("deeper than" in s for s in collected.skipped)


def test_entries_per_tree_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "MAX_ENTRIES", 10)
    stream = tar_bytes([("logs", None), *[(f"logs/{i:03d}.log", b"") for i in range(50)]])
    collected = artifacts.extract_archive(chunked(stream), tmp_path / "logs", 1024)
    assert len(list((tmp_path / "logs").iterdir())) == 9  # the top folder counts as an entry
    assert collected.skipped[-1].endswith("(stopped: over 10 entries)")


def test_a_terabyte_sparse_file_is_not_streamed_through(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "PASS_OVER_BUDGET", 8 * 1024**2)
    stream = EndlessSparseFile(size=1024**4)
    started = time.monotonic()
    collected = artifacts.extract_archive(stream, tmp_path / "code", 1024)
    assert time.monotonic() - started < 5 and stream.read <= 8 * 1024**2
    assert stream.closed  # the Docker response is ended, so the engine stops streaming
    assert collected.files == 0 and "stopped" in collected.skipped[-1]
    assert list((tmp_path / "code").iterdir()) == []


def test_files_over_the_cap_are_passed_over_within_the_budget(tmp_path):
    stream = tar_bytes([("code", None), ("code/big.bin", b"x" * 5000), ("code/small.txt", b"kept")])
    collected = artifacts.extract_archive(chunked(stream), tmp_path / "code", 1024)
    assert (tmp_path / "code" / "small.txt").read_bytes() == b"kept"
    assert not (tmp_path / "code" / "big.bin").exists()
    assert collected.skipped == ["code/big.bin (over the 1024 byte cap)"]


def test_single_file_over_the_cap_ends_the_stream(tmp_path):
    stream = EndlessSparseFile(size=1024**4)
    header = tarfile.TarInfo("submission.csv")
    header.size = 1024**4
    stream.head = header.tobuf(format=tarfile.PAX_FORMAT)
    assert artifacts.extract_single_file(stream, tmp_path / "s.csv", 1024) is False
    assert stream.closed and stream.read <= 1024**2 and not (tmp_path / "s.csv").exists()


def test_local_copy_skips_what_the_destination_cannot_hold(tmp_path):
    src = tmp_path / "src"
    deep = src
    for _ in range(15):  # ~3800 bytes: fits below src, not below the longer destination
        deep = deep / ("d" * 250)
    deep.mkdir(parents=True)
    (deep / "f.txt").write_text("x")
    (src / "ok.txt").write_text("kept")
    dest = tmp_path / ("a" * 250) / ("b" * 250) / "code"
    dest.parent.mkdir(parents=True)
    collected = artifacts.copy_tree(src, dest, 1024)
    assert (dest / "ok.txt").read_text() == "kept"
    assert any("too long" in s for s in collected.skipped), collected.skipped


def test_copy_tree_entries_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "MAX_ENTRIES", 10)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(50):
        (src / f"{i:03d}.log").write_text("")
    collected = artifacts.copy_tree(src, tmp_path / "dest", 1024)
    assert collected.files == 10 and collected.skipped[-1].endswith("(stopped: over 10 entries)")
    assert Path(tmp_path / "dest").is_dir()


def test_a_tree_replaced_by_a_file_is_skipped(tmp_path):
    """The agent turned /home/code into a regular file: its archive is one file entry named
    like the tree, which cannot be written over the destination folder."""
    stream = tar_bytes([("code", b"not a folder")])
    collected = artifacts.extract_archive(chunked(stream), tmp_path / "code", 1024)
    assert (tmp_path / "code").is_dir() and list((tmp_path / "code").iterdir()) == []
    assert collected.files == 0 and len(collected.skipped) == 1
