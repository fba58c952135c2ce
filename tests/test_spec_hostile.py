"""Hostile and careless sweep files: each is refused through `mleray sweep FILE` with exit 2
and exactly one line naming the field (or the file), quickly, before Ray or Docker start.

The CLI runs in-process (`mleray.cli.main` with its argv), so the time bound measures the
spec checks, not interpreter start-up."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mleray.bounded_yaml import MAX_VALUES
from mleray.errors import SpecError
from mleray.spec import load_spec, spec_from_dict
from mleray.spec_limits import MAX_AGENTS, MAX_COMPETITIONS, MAX_MODELS, MAX_SEEDS, MAX_TRIALS

SECONDS_PER_CASE = 2.0  # generous for a loaded 2-core machine; most cases take milliseconds

BASE = {
    "name": "hostile",
    "competitions": "[breast-cancer-auc]",
    "agents": "[{name: noop}]",
    "sandbox": "local",
    "resources": "{cpus: 0.5, memory: 256m}",
}


def spec_text(**fields: str | None) -> str:
    """The base spec with top-level fields replaced (None removes one)."""
    merged = {**BASE, **fields}
    return "".join(f"{key}: {value}\n" for key, value in merged.items() if value is not None)


def agents(**fields: str) -> str:
    inner = ", ".join(f"{k}: {v}" for k, v in {"name": "noop", **fields}.items())
    return f"[{{{inner}}}]"


def billion_laughs() -> str:
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "name: bomb\nagents: [noop]\ncompetitions: [breast-cancer-auc]\nlol:\n" + "\n".join(
        lines
    )


def listing(prefix: str, n: int) -> str:
    return "[" + ", ".join(f"{prefix}{i}" for i in range(n)) + "]"


# (case id, spec text, what the one error line must contain)
CASES = [
    # wrong types, field by field
    ("name-int", spec_text(name="5"), "`name`"),
    ("name-list", spec_text(name="[a]"), "`name`"),
    ("competitions-int", spec_text(competitions="5"), "`competitions`"),
    ("competitions-mapping", spec_text(competitions="{a: 1}"), "`competitions`"),
    ("competition-id-int", spec_text(competitions="[1]"), "`competitions[0]`"),
    ("split-list", spec_text(split="[builtin]"), "`split`"),
    ("agents-string", spec_text(agents="noop-but-not-a-list"), "`agents`"),
    ("agents-empty", spec_text(agents="[]"), "`agents`"),
    ("agent-int", spec_text(agents="[5]"), "`agents[0]`"),
    ("agent-name-int", spec_text(agents=agents(name="5")), "`agents[0].name`"),
    ("agent-name-null", spec_text(agents="[{name: null}]"), "`agents[0].name`"),
    ("models-string", spec_text(agents=agents(models="m1")), "`agents[0].models`"),
    ("model-int", spec_text(agents=agents(models="[1]")), "`agents[0].models[0]`"),
    ("kwargs-list", spec_text(agents=agents(kwargs="[1]")), "`agents[0].kwargs`"),
    ("kwargs-int-key", spec_text(agents=agents(kwargs="{1: a}")), "`agents[0].kwargs`"),
    ("kwargs-binary", spec_text(agents=agents(kwargs="{a: !!binary aGk=}")), "`agents[0].kwargs`"),
    ("kwargs-date", spec_text(agents=agents(kwargs="{a: 2024-01-01}")), "`agents[0].kwargs`"),
    ("seeds-string", spec_text(seeds="'3'"), "`seeds`"),
    ("seeds-float", spec_text(seeds="1.5"), "`seeds`"),
    ("seeds-bool", spec_text(seeds="yes"), "`seeds`"),
    ("seeds-mapping", spec_text(seeds="{a: 1}"), "`seeds`"),
    ("seed-string", spec_text(seeds="[a]"), "`seeds[0]`"),
    ("resources-int", spec_text(resources="5"), "`resources`"),
    ("gpus-string", spec_text(resources="{gpus: x}"), "`resources.gpus`"),
    ("cpus-string", spec_text(resources="{cpus: x}"), "`resources.cpus`"),
    ("cpus-bool", spec_text(resources="{cpus: true}"), "`resources.cpus`"),
    ("memory-list", spec_text(resources="{memory: [1]}"), "`resources.memory`"),
    ("time-limit-string", spec_text(time_limit="soon"), "`time_limit`"),
    ("time-limit-list", spec_text(time_limit="[1]"), "`time_limit`"),
    ("time-limit-bool", spec_text(time_limit="true"), "`time_limit`"),
    ("sandbox-int", spec_text(sandbox="5"), "`sandbox`"),
    ("sandbox-list", spec_text(sandbox="[docker]"), "`sandbox`"),
    ("results-int", spec_text(results="5"), "`results`"),
    ("results-list", spec_text(results="[a]"), "`results`"),
    ("max-attempts-string", spec_text(max_attempts="x"), "`max_attempts`"),
    ("max-attempts-float", spec_text(max_attempts="2.5"), "`max_attempts`"),
    ("snapshot-string", spec_text(snapshot_interval="often"), "`snapshot_interval`"),
    ("competitions-path-int", spec_text(competitions_path="5"), "`competitions_path`"),
    ("competitions-path-entry", spec_text(competitions_path="[5]"), "`competitions_path[0]`"),
    ("resources-false", spec_text(resources="false"), "`resources`"),
    ("kwargs-zero", spec_text(agents=agents(kwargs="0")), "`agents[0].kwargs`"),
    ("competitions-path-false", spec_text(competitions_path="false"), "`competitions_path`"),
    ("not-a-mapping", "- a\n- list\n", "must be a mapping"),
    ("scalar-document", "just text\n", "must be a mapping"),
    # huge numbers and huge collections
    ("seeds-trillion", spec_text(seeds="1000000000000"), "`seeds`"),
    ("seeds-5000-digits", spec_text(seeds="1" * 5000), "`seeds`"),
    ("seed-over-32-bits", spec_text(seeds="[4294967296]"), "`seeds[0]`"),
    ("seed-list-too-long", spec_text(seeds=listing("", MAX_SEEDS + 1)), "`seeds`"),
    ("time-limit-1e300", spec_text(time_limit="1e300"), "`time_limit`"),
    ("time-limit-a-year", spec_text(time_limit="31536000"), "`time_limit`"),
    ("snapshot-1e308", spec_text(snapshot_interval="1.0e308"), "`snapshot_interval`"),
    ("snapshot-too-often", spec_text(snapshot_interval="0.000001"), "`snapshot_interval`"),
    ("max-attempts-million", spec_text(max_attempts="1000000"), "`max_attempts`"),
    ("cpus-billion", spec_text(resources="{cpus: 1000000000}"), "`resources.cpus`"),
    ("gpus-thousand", spec_text(resources="{gpus: 1000}"), "`resources.gpus`"),
    ("gpus-thousandth", spec_text(resources="{gpus: 0.001}"), "`resources.gpus`"),
    ("memory-10e30-bytes", spec_text(resources="{memory: " + "1" + "0" * 30 + "}"), "memory`"),
    ("memory-400-digits", spec_text(resources="{memory: " + "9" * 400 + "g}"), "memory`"),
    ("memory-exabytes", spec_text(resources="{memory: 100000t}"), "`resources.memory`"),
    (
        "competitions-too-many",
        spec_text(competitions=listing("c", MAX_COMPETITIONS + 1)),
        "`competitions`",
    ),
    ("agents-too-many", spec_text(agents=listing("a", MAX_AGENTS + 1)), "`agents`"),
    (
        "models-too-many",
        spec_text(agents=agents(models=listing("m", MAX_MODELS + 1))),
        "`agents[0].models`",
    ),
    (
        "trial-matrix",
        spec_text(seeds="1000", agents=agents(models=listing("m", 101))),
        "`seeds` plan 101000 trials",
    ),
    ("name-500-chars", spec_text(name="n" * 500), "`name`"),
    ("model-1000-chars", spec_text(agents=agents(models=f"[{'m' * 1000}]")), "models[0]`"),
    ("competition-id-1000-chars", spec_text(competitions=f"[{'c' * 1000}]"), "`competitions[0]`"),
    ("agent-name-5000-chars", spec_text(agents=f"[{'a' * 5000}]"), "`agents[0].name`"),
    (
        "kwargs-100k",
        spec_text(agents=agents(kwargs="{prompt: " + "x" * 100_000 + "}")),
        "`agents[0].kwargs`",
    ),
    (
        "kwargs-20-deep",
        spec_text(agents=agents(kwargs="{a: " + "[" * 20 + "]" * 20 + "}")),
        "`agents[0].kwargs`",
    ),
    ("model-with-newline", spec_text(agents=agents(models='["a\\nb"]')), "models[0]`"),
    ("spec-over-256-kib", spec_text(name="x") + "#" * (300 * 1024) + "\n", "over 256 KiB"),
    ("many-values", spec_text(kwargs=None) + "x: " + listing("", 2 * MAX_VALUES) + "\n", "values"),
    # negative numbers
    ("seeds-negative", spec_text(seeds="-1"), "`seeds`"),
    ("seeds-zero", spec_text(seeds="0"), "`seeds`"),
    ("seed-negative", spec_text(seeds="[0, -2]"), "`seeds[1]`"),
    ("time-limit-negative", spec_text(time_limit="-5"), "`time_limit`"),
    ("time-limit-zero", spec_text(time_limit="0"), "`time_limit`"),
    ("snapshot-negative", spec_text(snapshot_interval="-1"), "`snapshot_interval`"),
    ("max-attempts-negative", spec_text(max_attempts="-1"), "`max_attempts`"),
    ("cpus-negative", spec_text(resources="{cpus: -1}"), "`resources.cpus`"),
    ("gpus-negative", spec_text(resources="{gpus: -1}"), "`resources.gpus`"),
    ("memory-negative", spec_text(resources="{memory: -4g}"), "`resources.memory`"),
    ("memory-one-kib", spec_text(resources="{memory: 1k}"), "`resources.memory`"),
    # NaN and infinities
    ("time-limit-nan", spec_text(time_limit=".nan"), "`time_limit`"),
    ("time-limit-inf", spec_text(time_limit=".inf"), "`time_limit`"),
    ("time-limit-minus-inf", spec_text(time_limit="-.inf"), "`time_limit`"),
    ("snapshot-nan", spec_text(snapshot_interval=".nan"), "`snapshot_interval`"),
    ("cpus-nan", spec_text(resources="{cpus: .nan}"), "`resources.cpus`"),
    ("cpus-inf", spec_text(resources="{cpus: .inf}"), "`resources.cpus`"),
    ("gpus-nan", spec_text(resources="{gpus: .nan}"), "`resources.gpus`"),
    ("gpus-inf", spec_text(resources="{gpus: .inf}"), "`resources.gpus`"),
    ("memory-inf", spec_text(resources="{memory: .inf}"), "`resources.memory`"),
    ("seed-nan", spec_text(seeds="[.nan]"), "`seeds[0]`"),
    ("max-attempts-inf", spec_text(max_attempts=".inf"), "`max_attempts`"),
    ("kwargs-nan", spec_text(agents=agents(kwargs="{lr: .nan}")), "`agents[0].kwargs`"),
    # unknown keys, with a suggestion
    ("unknown-top", spec_text(nmae="x"), "`nmae`; did you mean `name`?"),
    ("unknown-resource", spec_text(resources="{gpu: 1}"), "`resources.gpu`; did you mean"),
    ("unknown-agent-key", spec_text(agents=agents(model="[a]")), "`agents[0].model`; did you"),
    ("unknown-int-key", spec_text() + "1: x\n", "unknown field `1`"),
    ("unknown-null-key", spec_text() + "null: x\n", "unknown field `None`"),
    # YAML alias bombs, recursion and nesting
    ("billion-laughs", billion_laughs(), "alias bomb"),
    (
        "bomb-in-kwargs",
        spec_text(agents=None)
        + "agents:\n  - name: noop\n    kwargs:\n"
        + "\n".join(
            [f"      a0: &a0 [{', '.join(['x'] * 10)}]"]
            + [f"      a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
        )
        + "\n",
        "`agents[0].kwargs.a",
    ),
    ("recursive-alias", spec_text(agents="&a [*a]"), "`agents[0]`"),
    ("recursive-kwargs", spec_text(agents=agents(kwargs="&k {self: *k}")), "refers to itself"),
    ("undefined-alias", spec_text(seeds="*nowhere"), "`seeds`"),
    ("duplicate-anchor", spec_text(seeds="&s 1", time_limit="&s 2"), "`time_limit`"),
    (
        "deep-flow",
        spec_text(agents=agents(kwargs="{a: " + "[" * 100_000 + "]" * 100_000 + "}")),
        "`agents[0].kwargs.a",
    ),
    ("deep-document", "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 32"),
    (
        "deep-block",
        "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n",
        "`k0.k1.k2",
    ),
    ("unclosed-flow", spec_text(agents="[noop"), "malformed YAML at line"),
    ("python-tag", spec_text(name="!!python/object/apply:os.system [echo]"), "malformed YAML"),
    ("two-documents", spec_text() + "---\nname: again\n", "malformed YAML"),
    # duplicates: names and YAML keys
    ("duplicate-agent", spec_text(agents="[noop, noop]"), "`agents[1]` repeats agents[0]"),
    ("duplicate-agent-mapping", spec_text(agents="[noop, {name: noop}]"), "`agents[1]`"),
    (
        "duplicate-competition",
        spec_text(competitions="[breast-cancer-auc, breast-cancer-auc]"),
        "`competitions`",
    ),
    ("duplicate-model", spec_text(agents=agents(models="[m, m]")), "`agents[0].models`"),
    ("duplicate-seed", spec_text(seeds="[1, 1]"), "`seeds`"),
    ("duplicate-key-top", spec_text() + "name: again\n", "`name` (line 6): appears twice"),
    ("duplicate-key-nested", spec_text(resources="{cpus: 1, cpus: 2}"), "`resources.cpus`"),
    ("duplicate-key-agent", spec_text(agents="[{name: noop, name: sleep}]"), "`agents[0].name`"),
    # paths outside the project
    ("results-root", spec_text(results="/"), "`results`"),
    ("results-etc", spec_text(results="/etc/mleray"), "inside the system folder /etc"),
    ("results-usr", spec_text(results="/usr/local/results"), "inside the system folder /usr"),
    ("results-proc", spec_text(results="/proc/self/cwd/x"), "`results`"),
    ("results-tmp-itself", spec_text(results="/tmp"), "`results`"),
    ("results-home", spec_text(results="'~'"), "`results`"),
    ("results-cwd", spec_text(results="."), "the working directory or a parent"),
    ("results-parent", spec_text(results=".."), "the working directory or a parent"),
    ("competitions-path-root", spec_text(competitions_path="[/]"), "`competitions_path[0]`"),
    ("competitions-path-proc", spec_text(competitions_path="[/proc]"), "`competitions_path[0]`"),
    ("competitions-path-missing", spec_text(competitions_path="[/no/such/dir]"), "no such folder"),
    ("agent-folder-root", spec_text(agents="[/]"), "`agents[0].name`"),
    ("agent-folder-dev", spec_text(agents="[/dev/shm]"), "`agents[0].name`"),
    ("agent-folder-home", spec_text(agents="['~']"), "`agents[0].name`"),
    ("agent-folder-missing", spec_text(agents="[./no-such-agent-folder]"), "`agents[0].name`"),
    ("unknown-competition", spec_text(competitions="['../../etc/passwd']"), "`competitions[0]`"),
]


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`mleray ARGS` in this process: (exit code, stdout, stderr)."""
    from mleray import cli

    # main() registers the commands on each call: start from none, as a fresh process does
    monkeypatch.setattr(cli.app, "registered_commands", [])
    monkeypatch.setattr(cli.app, "registered_groups", [])
    monkeypatch.setattr(sys, "argv", ["mleray", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module", autouse=True)
def _warm_imports():
    """`mleray sweep` imports the driver (and Ray) before it reads the spec: do it once
    here, so the time bound below is about the spec, not first imports."""
    import mleray.cli
    import mleray.driver  # noqa: F401
    import mleray.registry

    mleray.registry.get_competition("breast-cancer-auc")
    with tempfile.TemporaryDirectory() as folder:  # and the command's own first call
        bad = Path(folder) / "sweep.yaml"
        bad.write_text(spec_text(seeds="-1"))
        argv, sys.argv = sys.argv, ["mleray", "sweep", str(bad)]
        try:
            with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
                mleray.cli.main()
        finally:
            sys.argv = argv
            mleray.cli.app.registered_commands.clear()
            mleray.cli.app.registered_groups.clear()


def test_enough_cases():
    assert len(CASES) >= 100
    assert len({case for case, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("case,text,needle", CASES, ids=[c[0] for c in CASES])
def test_hostile_spec_is_one_line_exit_2_quickly(tmp_path, monkeypatch, capsys, case, text, needle):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    # a working directory of the test's own, deep enough that ".." is never /tmp itself
    # (a clone under /tmp made the parent case meet the system-folder check first)
    (tmp_path / "work" / "here").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work" / "here")
    started = time.perf_counter()
    code, out, err = run_cli(monkeypatch, capsys, "sweep", str(path))
    elapsed = time.perf_counter() - started
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err[:2000]
    assert lines[0].startswith(f"error: {path}: "), lines[0][:500]
    assert needle in lines[0], lines[0][:500]
    assert len(lines[0]) < 1000, lines[0][:500]  # huge values are shown cut short
    assert "Traceback" not in err and out == ""
    assert elapsed < SECONDS_PER_CASE, f"{case} took {elapsed:.2f}s"


def test_results_through_a_symlink_into_a_system_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "innocent").symlink_to("/etc")
    path = tmp_path / "sweep.yaml"
    path.write_text(spec_text(results=str(tmp_path / "innocent" / "results")))
    code, _, err = run_cli(monkeypatch, capsys, "sweep", str(path))
    assert code == 2 and "inside the system folder /etc" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("kind", ["folder", "fifo", "missing", "latin-1"])
def test_spec_file_that_is_no_small_text_file(tmp_path, monkeypatch, capsys, kind):
    path = tmp_path / "sweep.yaml"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # reading it would block forever
    elif kind == "latin-1":
        path.write_bytes(spec_text(name="'caf\xe9'").encode("latin-1"))
    started = time.perf_counter()
    code, _, err = run_cli(monkeypatch, capsys, "sweep", str(path))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {path}: "), err
    assert time.perf_counter() - started < SECONDS_PER_CASE


def test_allowed_paths_load(tmp_path, monkeypatch):
    """Folders outside the project are fine where they harm nothing: results in a
    subfolder of /tmp, /var/tmp or the home folder, registries and agents anywhere."""
    registry = tmp_path / "registry"
    registry.mkdir()
    monkeypatch.chdir(tmp_path)
    for results in ("out", "../elsewhere/out", "/var/tmp/mleray/out", "~/mleray-results/x"):
        path = tmp_path / "sweep.yaml"
        path.write_text(spec_text(results=f"'{results}'", competitions_path=f"[{registry}]"))
        spec = load_spec(path)
        assert spec.results_dir == Path(results).expanduser()
        assert spec.competitions_path == (str(registry),)


# The same bounds hold for specs built in memory (`mleray run`, library users), where no
# YAML loader stands in front: nothing is expanded before it is checked.


def _dict_spec(**changes):
    raw = {"name": "d", "competitions": ["breast-cancer-auc"], "agents": ["noop"], **changes}
    return spec_from_dict(raw, source="mem", check=False)


def test_a_trillion_seeds_in_memory_is_refused_without_allocating():
    started = time.perf_counter()
    with pytest.raises(SpecError, match=r"field `seeds`"):
        _dict_spec(seeds=10**12)
    assert time.perf_counter() - started < 0.5


def test_shared_references_in_kwargs_cannot_blow_up():
    bomb: list = ["lol"] * 10
    for _ in range(30):  # 10**30 leaves if walked naively
        bomb = [bomb] * 10
    started = time.perf_counter()
    with pytest.raises(SpecError, match=r"`agents\[0\]\.kwargs` is (too large|nested)"):
        _dict_spec(agents=[{"name": "noop", "kwargs": {"x": bomb}}])
    cyclic: dict = {}
    cyclic["self"] = cyclic
    with pytest.raises(SpecError, match=r"`agents\[0\]\.kwargs`"):
        _dict_spec(agents=[{"name": "noop", "kwargs": cyclic}])
    assert time.perf_counter() - started < 0.5


def test_the_trial_bound_is_checked_before_planning():
    models = [f"m{i}" for i in range(MAX_TRIALS // 1000 + 1)]
    with pytest.raises(SpecError, match=r"plan \d+ trials; at most"):
        _dict_spec(seeds=1000, agents=[{"name": "noop", "models": models}])
    # just under the bound is a real (large) sweep and loads
    fits = _dict_spec(seeds=1000, agents=[{"name": "noop", "models": models[:-1]}])
    assert len(fits.seeds) * len(fits.agents[0].models) == MAX_TRIALS
