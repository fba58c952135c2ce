"""Layers: the import graph of `mleray/` has no cycle, keeps design.md's layer rules, and no
module is over 400 lines.

The graph is read from the source with `ast`; nothing is imported. Imports at module level
and inside functions both count. Imports under `if TYPE_CHECKING:` count for cycles (two
modules that need each other's types are one concept split in two; the issue's
driver <-> progress and plan <-> results cycles were typing-only) but not for the layer
rules, which are about what runs.
`import a.b.c` is an edge to `a.b.c`; `from a.b import c` is an edge to `a.b.c` when that is a
module, else to `a.b`. The layer rules follow what importing a module loads, so they also
follow the package `__init__` that Python runs before each module.
"""

from __future__ import annotations

import ast
import graphlib
from collections import deque
from pathlib import Path

PACKAGE = "mleray"
TESTS_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = TESTS_DIR.parent / PACKAGE
MAX_MODULE_LINES = 400

# design.md's layers: these load neither ray nor docker, so they are testable without either
NO_RAY_NO_DOCKER = (
    "mleray.spec",
    "mleray.plan",
    "mleray.registry",
    "mleray.data",
    "mleray.grading",
    "mleray.results",
    "mleray.analysis",
    "mleray.gateway",  # the model gateway's server and tools; actors/ put it on Ray
    "mleray.spec_models",
)
NO_RAY = ("mleray.sandbox",)  # the sandbox uses docker; only actors/ join it to Ray
GRADING = ("mleray.grading",)  # a pure function of files:
NOT_FROM_GRADING = ("mleray.sandbox", "mleray.actors")
CLI = "mleray.cli"
# `python -m mleray` runs the CLI, as the `mleray` console script does: an entry point, not
# a library module that depends on the CLI
CLI_ENTRY_POINTS = ("mleray.__main__",)


def in_any(module: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `module` is one of `prefixes` or inside one of them (a package or module)."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def module_files(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted module name -> its file, for every module of the package (`__init__` named as
    its package)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def import_nodes(tree: ast.AST, typing_only: bool = False):
    """Every Import/ImportFrom node that can run; with `typing_only`, also those in
    `if TYPE_CHECKING:` bodies (skipped otherwise; their `else:` never is)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if not typing_only and isinstance(node, ast.If) and is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def imported_names(
    module: str, is_package: bool, tree: ast.AST, known: set[str], typing_only: bool = False
) -> set[str]:
    """The dotted names `module` imports, relative imports resolved against its package."""
    package = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in import_nodes(tree, typing_only):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            names.add(candidate if candidate in known else base)
    return names


def internal_target(name: str, known: set[str]) -> str | None:
    """The package module an imported name loads: itself, else its longest known prefix
    (None for names outside the package)."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    while name not in known:
        name = name.rpartition(".")[0]
    return name


def build_graph(
    package_dir: Path = PACKAGE_DIR, typing_only: bool = False
) -> tuple[dict[str, set[str]], dict[str, set]]:
    """(internal edges module -> package modules it imports, external top-level names each
    module imports); `typing_only` adds the imports made for type checkers alone."""
    files = module_files(package_dir)
    known = set(files)
    internal: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        names = imported_names(module, path.name == "__init__.py", tree, known, typing_only)
        targets = {internal_target(name, known) for name in names}
        internal[module] = {t for t in targets if t is not None and t != module}
        external[module] = {name.split(".")[0] for name in names if not name.startswith(PACKAGE)}
        external[module] -= {PACKAGE}
    return internal, external


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles in `graph`, each as a chain of nodes ending where it started; every edge that
    lies on a cycle is on at least one listed chain, so breaking them all leaves none."""
    edges = {node: set(targets) for node, targets in graph.items()}
    cycles = []
    while True:
        try:
            graphlib.TopologicalSorter(edges).prepare()
        except graphlib.CycleError as error:
            # graphlib lists the cycle against the edges (each node is a predecessor of the
            # one before it in this mapping): reverse it to read as "imports"
            chain = list(reversed(error.args[1]))
            cycles.append(chain)
            edges[chain[0]].discard(chain[1])
            continue
        return cycles


def parent_packages(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def loads(start: str, internal: dict[str, set[str]]) -> dict[str, list[str]]:
    """Every package module that importing `start` loads, each with the chain that loads it:
    its imports, theirs, and the package `__init__` run before each module."""
    chains = {start: [start]}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        steps = [(p, f"{p} (package)") for p in parent_packages(module)]
        steps += [(t, t) for t in sorted(internal.get(module, ()))]
        for target, label in steps:
            if target not in chains:
                chains[target] = [*chains[module], label]
                queue.append(target)
    return chains


def layer_breaks(internal: dict[str, set[str]], external: dict[str, set[str]]) -> list[str]:
    """One line per break of the layer rules, naming the chain that breaks it."""
    breaks = []
    for module in sorted(internal):
        banned = set()
        if in_any(module, NO_RAY_NO_DOCKER):
            banned = {"ray", "docker"}
        elif in_any(module, NO_RAY):
            banned = {"ray"}
        for loaded, chain in loads(module, internal).items():
            for name in sorted(banned & external.get(loaded, set())):
                breaks.append(f"{module} must not import {name}: {' -> '.join(chain)} -> {name}")
            if in_any(module, GRADING) and in_any(loaded, NOT_FROM_GRADING):
                breaks.append(f"grading must not import {loaded}: {' -> '.join(chain)}")
        if not in_any(module, (CLI, *CLI_ENTRY_POINTS)):
            for target in sorted(t for t in internal[module] if in_any(t, (CLI,))):
                breaks.append(f"nothing outside the CLI imports it: {module} -> {target}")
    return breaks


def test_find_cycles_finds_a_synthetic_cycle_and_none_in_a_tree():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}}
    cycles = find_cycles(graph)
    assert sorted(tuple(sorted(set(c))) for c in cycles) == [("a", "b", "c"), ("e", "e2")]
    for chain in cycles:  # each chain follows real edges and closes on itself
        assert chain[0] == chain[-1]
        assert all(b in graph[a] for a, b in zip(chain, chain[1:]))
    assert find_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_imports_are_resolved_as_python_runs_them(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .leaf import thing\n")
    (pkg / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mleray import other\n"
        "def f():\n    import ray.util\n    from .. import other\n"
    )
    (pkg / "other.py").write_text("from mleray.sub import thing\nimport docker\n")
    internal, external = build_graph(pkg)
    assert internal["mleray.sub"] == {"mleray.sub.leaf"}
    assert internal["mleray.sub.leaf"] == {"mleray.other"}
    assert internal["mleray.other"] == {"mleray.sub"}
    assert external["mleray.sub.leaf"] == {"typing", "ray"}
    assert find_cycles(internal)  # other -> sub -> leaf -> other
    chain = loads("mleray.other", internal)["mleray.sub.leaf"]
    assert chain == ["mleray.other", "mleray.sub", "mleray.sub.leaf"]


def test_a_typing_only_import_closes_a_cycle(tmp_path):
    pkg = tmp_path / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "loop.py").write_text("from mleray.view import View\n")
    (pkg / "view.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mleray.loop import Loop\n"
    )
    assert not find_cycles(build_graph(pkg)[0])  # nothing runs it
    assert find_cycles(build_graph(pkg, typing_only=True)[0])  # but the two need each other


def test_mleray_has_no_import_cycle():
    internal, _ = build_graph(typing_only=True)
    cycles = find_cycles(internal)
    assert not cycles, "import cycles in mleray/:\n" + "\n".join(
        " -> ".join(chain) for chain in cycles
    )


def test_mleray_keeps_the_layer_rules():
    breaks = layer_breaks(*build_graph())
    assert not breaks, "layer rules broken (design.md):\n" + "\n".join(breaks)


def test_no_module_over_400_lines():
    long = {
        module: n
        for module, path in module_files().items()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split by concept): {long}"


def names_a_test_file(name: str) -> bool:
    """Whether dotted `name` is one of this suite's test files (`test_x`, `tests.test_x`)."""
    parts = name.split(".")
    if parts[0] == "tests":
        return any(part.startswith("test_") for part in parts[1:])
    return parts[0].startswith("test_") and (TESTS_DIR / f"{parts[0]}.py").exists()


def test_no_test_file_imports_another():
    """Shared test code lives in tests/helpers/: a test file imported by another is loaded
    twice (once by pytest, once by the import) and ties the two files' edits together."""
    offenders = []
    for path in sorted(TESTS_DIR.rglob("*.py")):
        for node in import_nodes(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif node.module == "tests":  # from tests import test_x
                names = [f"tests.{alias.name}" for alias in node.names]
            elif node.level == 0 and node.module:
                names = [node.module]
            else:
                names = []
            offenders += [
                (str(path.relative_to(TESTS_DIR)), node.lineno, name)
                for name in names
                if names_a_test_file(name)
            ]
    assert not offenders, "move what they share into tests/helpers/:\n" + "\n".join(
        f"{file}:{line} imports {name}" for file, line, name in sorted(offenders)
    )
