"""Reading a small YAML file a person wrote, with its size, nesting and aliases bounded.

PyYAML's safe loader alone is not enough for a file that may be careless or hostile:
- aliases load as shared references, so a "billion laughs" file loads in milliseconds and
  then expands exponentially in whatever walks it next (`json.dumps`, a hash, `yaml.dump`);
- its composer recurses once per nesting level (a RecursionError a few hundred deep), and
  its pure-Python scanner is quadratic in flow nesting;
- of two equal keys it silently keeps the last;
- an integer over 4300 digits raises a bare ValueError.

So one pass over the parser's events (libyaml's where installed) first bounds the bytes,
the nesting depth and the number of values with every alias expanded, refuses recursive
aliases, repeated keys and giant integers, each as one `SpecError` line naming the file,
the field and the line; only then is the document built.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

import yaml

from mleray.errors import SpecError

MAX_BYTES = 256 * 1024  # a spec is a few hundred bytes; kwargs may hold a prompt
MAX_DEPTH = 32  # nested mappings/lists, aliases expanded
MAX_VALUES = 10_000  # scalars and collections, aliases expanded; loading is ~20 µs each
MAX_INT_DIGITS = 100
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DECIMAL_INT = re.compile(r"^[-+]?[0-9][0-9_]*$")  # octal, hex: no digit limit


def load_yaml_file(path: str | os.PathLike, what: str = "file") -> Any:
    """The parsed content of a YAML file of at most MAX_BYTES; SpecError otherwise."""
    return parse_yaml(read_small_text(path, what), str(path))


def read_small_text(path: str | os.PathLike, what: str = "file", limit: int = MAX_BYTES) -> str:
    """A regular UTF-8 file's text, read no further than `limit` bytes."""
    source = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SpecError(f"{source}: no such {what}") from None
    except OSError as exc:
        raise SpecError(f"{source}: cannot read the {what} ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError(f"{source}: is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):  # a FIFO or /dev/zero would block or never end
        raise SpecError(f"{source}: is not a regular file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise SpecError(f"{source}: cannot read the {what} ({exc.strerror})") from None
    if len(data) > limit:
        raise SpecError(f"{source}: the {what} is over {limit // 1024} KiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{source}: not UTF-8 text (invalid byte at offset {exc.start})") from None


def parse_yaml(text: str, source: str) -> Any:
    """`text` checked by `check_events`, then loaded with the safe loader."""
    try:
        check_events(text, source)
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}: malformed YAML{where}: {problem}") from None


@dataclass
class _Open:
    """A mapping or list being read: where it is, and what it has seen so far."""

    path: str
    is_map: bool
    anchor: str | None
    values_before: int  # the running count when it opened (its anchor's size is the rest)
    deepest: int  # the deepest level reached inside it
    expecting_key: bool = True
    items: int = 0
    key: str | None = None
    key_lines: dict[str, int] = field(default_factory=dict)


class _EventCheck:
    def __init__(self, source: str) -> None:
        self.source = source
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values, levels)
        self.anchor_lines: dict[str, int] = {}
        self.values = 0

    def fail(self, path: str, line: int, problem: str) -> SpecError:
        where = f"field `{path}`" if path else "the document"
        return SpecError(f"{self.source}: {where} (line {line + 1}): {problem}")

    def place(self, line: int, scalar_key: str | None) -> str:
        """The field path of the next item in the innermost collection; a mapping's keys
        are checked for repeats."""
        if not self.stack:
            return ""
        top = self.stack[-1]
        top.items += 1
        if not top.is_map:
            return _cut(f"{top.path}[{top.items - 1}]")
        if top.expecting_key:
            top.expecting_key = False
            top.key = scalar_key
            if scalar_key is not None:
                shown = _key_text(scalar_key)
                path = _cut(f"{top.path}.{shown}" if top.path else shown)
                if scalar_key in top.key_lines:
                    first = top.key_lines[scalar_key] + 1
                    raise self.fail(path, line, f"appears twice (first on line {first})")
                top.key_lines[scalar_key] = line
            return top.path
        top.expecting_key = True
        key = _key_text(top.key) if top.key is not None else "?"
        return _cut(f"{top.path}.{key}" if top.path else key)

    def count(self, path: str, line: int, values: int, levels: int) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise self.fail(
                path, line, f"more than {MAX_VALUES} values with aliases expanded (an alias bomb?)"
            )
        depth = len(self.stack) + levels
        if depth > MAX_DEPTH:
            raise self.fail(path, line, f"nested more than {MAX_DEPTH} levels deep")
        for frame in self.stack:
            frame.deepest = max(frame.deepest, depth)

    def anchor(self, path: str, line: int, anchor: str | None) -> None:
        if anchor is None:
            return
        if anchor in self.anchor_lines:  # the composer refuses it too, less clearly
            first = self.anchor_lines[anchor] + 1
            raise self.fail(
                path, line, f"anchor &{anchor} is defined twice (first on line {first})"
            )
        self.anchor_lines[anchor] = line

    def event(self, event: yaml.Event) -> None:
        line = event.start_mark.line if event.start_mark else 0
        if isinstance(event, yaml.CollectionStartEvent):
            path = self.place(line, None)
            self.anchor(path, line, event.anchor)
            self.count(path, line, 1, 1)
            is_map = isinstance(event, yaml.MappingStartEvent)
            depth = len(self.stack) + 1
            self.stack.append(_Open(path, is_map, event.anchor, self.values - 1, depth))
        elif isinstance(event, yaml.CollectionEndEvent):
            done = self.stack.pop()
            if done.anchor is not None:
                levels = done.deepest - len(self.stack)
                self.anchors[done.anchor] = (self.values - done.values_before, levels)
        elif isinstance(event, yaml.ScalarEvent):
            path = self.place(line, event.value)
            self.count(path, line, 1, 0)
            plain = event.implicit[0] and not event.style
            if plain and len(event.value) > MAX_INT_DIGITS and _DECIMAL_INT.match(event.value):
                raise self.fail(path, line, f"a number with {len(event.value)} digits")
            self.anchor(path, line, event.anchor)
            if event.anchor is not None:
                self.anchors[event.anchor] = (1, 0)
        elif isinstance(event, yaml.AliasEvent):
            path = self.place(line, None)
            if any(frame.anchor == event.anchor for frame in self.stack):
                raise self.fail(path, line, f"alias *{event.anchor} refers to itself")
            if event.anchor not in self.anchors:
                raise self.fail(path, line, f"alias *{event.anchor} is not defined above")
            self.count(path, line, *self.anchors[event.anchor])


def check_events(text: str, source: str) -> None:
    """Bound depth and expanded size, refuse recursive aliases and repeated keys, reading
    the parser's events once (stopping at the first problem: nothing is expanded)."""
    check = _EventCheck(source)
    for event in yaml.parse(text, Loader=_LOADER):
        check.event(event)


def _key_text(key: str) -> str:
    """A key as a message shows it: as written if printable, else escaped; cut short."""
    text = key if key.isprintable() and key else repr(key)
    return text if len(text) <= 60 else f"{text[:60]}..."


def _cut(path: str, limit: int = 120) -> str:
    return path if len(path) <= limit else f"...{path[-limit:]}"
