"""The answers' content digest: remembered per stat key only once a rewrite would show."""

from __future__ import annotations

import os
import time

import pytest

from mleray.grading import content_key


@pytest.fixture(autouse=True)
def forget():
    content_key._digests.clear()
    yield
    content_key._digests.clear()


def test_a_young_file_is_hashed_every_time(tmp_path):
    """A rewrite in the same timestamp tick, same size, mtime put back: still seen."""
    path = tmp_path / "answers.csv"
    path.write_bytes(b"id,y\n1,2\n")
    first = content_key.content_digest(path)
    info = os.stat(path)
    path.write_bytes(b"id,y\n1,3\n")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert content_key.content_digest(path) != first
    assert content_key._digests == {}


def test_an_old_file_is_hashed_once_and_a_rewrite_is_seen(tmp_path, monkeypatch):
    path = tmp_path / "answers.csv"
    path.write_bytes(b"id,y\n1,2\n")
    later = time.time() + 2 * content_key.RACY_SECONDS
    monkeypatch.setattr(content_key.time, "time", lambda: later)
    first = content_key.content_digest(path)
    assert list(content_key._digests.values()) == [first]
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    assert content_key.content_digest(path) == first and opened == []
    path.write_bytes(b"id,y\n1,3\n")  # a new ctime: a new key
    assert content_key.content_digest(path) != first and opened == [path]
