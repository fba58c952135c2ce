"""The bounds on a sweep spec's values, and the folders a spec may name.

Every count, size and duration in a spec has a ceiling well above any real sweep and far
below what would exhaust the driver (a `seeds: 1000000000000` once allocated until
MemoryError). Each check raises one `SpecError` line naming the file and the field, and
runs before anything is expanded. Values are shown cut short: a bad value can be huge.
`parse_memory` and `check_gpu_share` live here too, bounded the same way.

Paths: relative ones are from the working directory, `~` is the home folder. Folders that
are only read (`competitions_path`, agent folders) may be anywhere, except the filesystem
root and the kernel's pseudo-filesystems; an agent folder may not be the home folder
either (it is the image's build context: everything in it would go into the image). The
results folder, which is written, may not be the root, the home folder, the working
directory or one of its parents (the sweep would write `sweep.yaml` over a spec kept
there), a top-level folder like /var or /tmp itself, or anything inside a system folder.
"""

from __future__ import annotations

import json
import math
import os
import re
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from mleray.errors import SpecError

MAX_COMPETITIONS = 5_000  # listed or from the split
MAX_AGENTS = 1_000
MAX_MODELS = 1_000  # per agent
MAX_SEEDS = 1_000
MAX_SEED = 2**32 - 1  # numpy seeds are 32-bit
MAX_TRIALS = 100_000  # competitions × agents × models × seeds
MAX_SECONDS = 30 * 24 * 3600.0  # time_limit and snapshot_interval
MIN_SNAPSHOT_INTERVAL = 0.1  # below this the copy loop would spin
MAX_ATTEMPTS = 100
MAX_CPUS = 1024.0
MAX_GPUS = 64  # per trial
MAX_GPU_SPLIT = 100  # the smallest share is 1/100
MIN_MEMORY = 6 * 1024**2  # Docker's minimum
MIN_PIDS, MAX_PIDS = 16, 4_194_304  # processes + threads; the kernel's pid_max ceiling
MIN_SHM = 1024**2
MIN_DISK = 16 * 1024**2
MAX_MEMORY = 64 * 1024**4
MAX_NAME_CHARS = 200  # competition ids, models, split names
MAX_PATH_CHARS = 4096
MAX_PATHS = 100  # competitions_path entries
MAX_KWARGS_BYTES = 64 * 1024  # as compact JSON
MAX_KWARGS_DEPTH = 16
MAX_KWARGS_VALUES = 10_000
_SHOWN_CHARS = 60
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

# Written folders may not be inside these ...
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_DIRS += ("/proc", "/run", "/sbin", "/sys", "/usr")
# ... nor be one of these themselves (their subfolders are fine).
TOP_DIRS = ("/", "/home", "/media", "/mnt", "/opt", "/root", "/srv", "/tmp", "/var")
PSEUDO_DIRS = ("/proc", "/sys", "/dev")  # never data; reading them can block or not end


def shown(value: Any) -> str:
    """`repr(value)` cut short, for messages."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}... ({len(text)} chars)"


def cut(text: str) -> str:
    """Text from a spec cut short, for messages."""
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}..."


def field_error(source: str, key: str, problem: str) -> SpecError:
    return SpecError(f"{source}: field `{key}` {problem}")


def no_unknown(source: str, prefix: str, raw: dict, known: set[str]) -> None:
    """A key outside `known` is an error naming it, with the nearest known key."""
    for key in raw:
        if key not in known:
            text = key if isinstance(key, str) and key.isprintable() else shown(key)
            close = get_close_matches(text, sorted(known), n=1) if isinstance(key, str) else []
            hint = f"; did you mean `{prefix}{close[0]}`?" if close else ""
            raise SpecError(
                f"{source}: unknown field `{prefix}{cut(text)}`{hint} "
                f"(known: {', '.join(sorted(known))})"
            )


def number(
    source: str,
    key: str,
    value: Any,
    low: float,
    high: float,
    *,
    integer: bool = False,
    low_open: bool = False,
    unit: str = "",
) -> float | int:
    """A finite number in [low, high] ((low, high] with `low_open`), not a bool."""
    kinds = (int,) if integer else (int, float)
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise field_error(source, key, f"must be {kind}{unit}, got {shown(value)}")
    if not math.isfinite(value):
        raise field_error(source, key, f"must be a finite number{unit}, got {value}")
    if value < low or (low_open and value == low) or value > high:
        above = f"above {_plain(low)}" if low_open else f"at least {_plain(low)}"
        raise field_error(
            source, key, f"must be {above} and at most {_plain(high)}{unit}, got {value}"
        )
    return value


def _plain(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def text(source: str, key: str, value: Any, max_chars: int, what: str = "a name") -> str:
    """A non-empty printable string of at most `max_chars` characters."""
    if not isinstance(value, str) or not value:
        raise field_error(source, key, f"must be {what}, got {shown(value)}")
    if len(value) > max_chars:
        raise field_error(source, key, f"is {len(value)} characters long; at most {max_chars}")
    if not value.isprintable():
        raise field_error(source, key, f"must be printable text, got {shown(value)}")
    return value


def count(source: str, key: str, items: Any, most: int) -> None:
    if len(items) > most:
        raise field_error(source, key, f"has {len(items)} entries; at most {most}")


def plain_json(source: str, key: str, value: Any) -> str:
    """Agent kwargs as sorted compact JSON: string keys, finite numbers, bounded depth,
    count and size. Walked without recursion, so nothing nested or shared can blow up."""
    stack, seen = [(value, 1)], 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if depth > MAX_KWARGS_DEPTH:
            raise field_error(source, key, f"is nested more than {MAX_KWARGS_DEPTH} levels deep")
        if seen > MAX_KWARGS_VALUES:
            raise field_error(source, key, f"is too large (more than {MAX_KWARGS_VALUES} values)")
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                raise field_error(source, key, "must be a mapping with string keys")
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise field_error(source, key, f"must hold plain JSON values, got {item}")
        elif item is not None and not isinstance(item, (bool, int, float, str)):
            raise field_error(source, key, f"must hold plain JSON values, got {shown(item)}")
    try:
        encoded = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except ValueError as exc:  # an integer past Python's 4300-digit conversion limit
        raise field_error(source, key, f"must hold plain JSON values ({exc})") from None
    if len(encoded) > MAX_KWARGS_BYTES:
        raise field_error(source, key, f"is {len(encoded)} bytes as JSON; at most 64 KiB")
    return encoded


def parse_memory(value: Any, where: str = "memory") -> int:
    """'4g', '512m', '1.5GiB' or a byte count -> bytes (binary units, like Docker's),
    at most MAX_MEMORY."""
    if isinstance(value, bool):
        raise SpecError(f"{where}: expected a size like '4g', got {value!r}")
    if isinstance(value, int) and value > 0:
        size = float(value)
    else:
        match = _MEMORY.match(str(value)) if isinstance(value, (str, float)) else None
        if not match or float(match.group(1)) <= 0:
            raise SpecError(
                f"{where}: expected a positive size like '4g' or '512m', got {shown(value)}"
            )
        size = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if size > MAX_MEMORY:  # also inf, from a size written with 400 digits
        raise SpecError(f"{where}: {shown(value)} is over the limit of 64 TiB")
    return int(size)


def sandbox_limits(source: str, prefix: str, raw: dict) -> tuple[int | None, ...]:
    """(pids, shm bytes, disk bytes) from the `pids`, `shm` and `disk` keys of a sweep's
    or an agent's `resources` (`prefix` names the mapping); None where a key is absent."""
    pids = raw.get("pids")
    if pids is not None:
        pids = number(source, f"{prefix}pids", pids, MIN_PIDS, MAX_PIDS, integer=True)
    return (
        pids,
        _size(source, f"{prefix}shm", raw.get("shm"), MIN_SHM),
        _size(source, f"{prefix}disk", raw.get("disk"), MIN_DISK),
    )


def _size(source: str, key: str, value: Any, low: int) -> int | None:
    if value is None:
        return None
    where = f"{source}: field `{key}`"
    size = parse_memory(value, where)
    if size < low:
        raise SpecError(f"{where}: {size} bytes is below the minimum of {low // 1024**2} MiB")
    return size


def check_gpu_share(value: Any, where: str = "gpus") -> float:
    """A GPU request must be 0, a whole number, or 1/k: other fractions can leave actors
    pending forever when shares from different nodes do not add up."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise SpecError(
            f"{where}: expected 0, a whole number or 1/k (0.5, 0.25, ...), got {shown(value)}"
        )
    if value > MAX_GPUS:
        raise SpecError(f"{where}: {value!r} GPUs per trial; at most {MAX_GPUS}")
    if value == 0 or float(value).is_integer():
        return float(value)
    if value < 1 / MAX_GPU_SPLIT:
        raise SpecError(f"{where}: {value!r} is below the smallest share, 1/{MAX_GPU_SPLIT}")
    inverse = 1.0 / value
    if value > 1 or abs(inverse - round(inverse)) > 1e-6:
        raise SpecError(f"{where}: {value!r} is not a whole number or 1/k (0.5, 0.25, 0.2, ...)")
    return 1.0 / round(inverse)


def _inside(paths: tuple[Path, ...], folders: tuple[str, ...]) -> str | None:
    for path in paths:
        for folder in folders:
            if path == Path(folder) or Path(folder) in path.parents:
                return folder
    return None


def _forms(source: str, key: str, value: str) -> tuple[Path, Path]:
    """The path as written (made absolute) and with its symlinks resolved: both are
    checked, since /proc/self/cwd resolves to an innocent folder and a link can hide /etc."""
    try:
        written = Path(os.path.abspath(os.path.expanduser(value)))
        return written, written.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, an unknown ~user
        raise field_error(source, key, f"cannot be resolved ({exc})") from None


def read_folder(source: str, key: str, value: str, *, agent: bool = False) -> Path:
    """A folder mleray only reads, as an absolute path (Ray workers have another cwd)."""
    forms = _forms(source, key, value)
    refused = _inside(forms, PSEUDO_DIRS) or ("/" if Path("/") in forms else None)
    if refused is None and agent and Path.home().resolve() in forms:
        refused = "~"
    if refused is not None:
        kind = "an agent" if agent else "a competitions"
        raise field_error(source, key, f"names {forms[1]}, which cannot be {kind} folder")
    return forms[1]


def results_folder(source: str, key: str, value: str) -> Path:
    """The folder a sweep writes: refused where writing would harm the system or the user."""
    forms = _forms(source, key, value)
    system = _inside(forms, SYSTEM_DIRS)
    if system is not None:
        raise field_error(source, key, f"is {forms[1]}, inside the system folder {system}")
    cwd = Path(os.getcwd()).resolve()
    for path in forms:
        if str(path) in TOP_DIRS or path == Path.home().resolve():
            raise field_error(source, key, f"is {path} itself; name a folder inside it")
        if path == cwd or path in cwd.parents:
            raise field_error(
                source, key, f"is {path}, the working directory or a parent; name a subfolder"
            )
    return forms[1]
