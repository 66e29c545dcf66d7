"""Issue 14's done-when, enforced on the package code (``ivos_core/``, ``analytics/``, ``flows/``).

Pure ``ast`` / text, no imports of the package: module and function sizes, no import cycle among
the package's modules (module-level imports only; imports inside functions and under
``TYPE_CHECKING`` do not run at import time), and ``ivos_core`` never importing the layers above
it (``analytics``, ``flows``) or Prefect / DuckDB, at any level.
"""

from __future__ import annotations

import ast
import statistics
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ivos_core", "analytics", "flows")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
MAX_MEDIAN_FUNCTION_LINES = 15
CORE_MAY_NOT_IMPORT = ("analytics", "flows", "prefect", "duckdb")

Import = ast.Import | ast.ImportFrom


@cache
def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(module: str, is_package: bool, node: Import) -> list[str]:
    """The dotted names an import statement may load: ``import a.b`` -> ``a.b``;
    ``from a import b, c`` -> ``a``, ``a.b``, ``a.c`` (a name that is a submodule is one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        here = here[: len(here) - (node.level - 1)]
        base = ".".join(here + ([node.module] if node.module else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _module_level_imports(body: list[ast.stmt]):
    """Import statements that run when the module is imported: top level, and inside top-level
    ``if`` / ``try`` blocks, but not under ``if TYPE_CHECKING:`` (nor in functions or classes)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                yield from _module_level_imports(node.body)
            yield from _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _module_level_imports(block)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package modules its module-level imports load."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in _module_level_imports(_tree(path).body):
            targets.update(t for t in _imported(name, is_package, node) if t in mods and t != name)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def _functions():
    """``(module path, qualified-ish name, lines)`` of every function and method."""
    for path in _modules().values():
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node.name, node.end_lineno - node.lineno + 1


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_no_module_over_400_lines():
    long = {_rel(p): n for p in _modules().values() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_over_80_lines():
    long = [f"{_rel(p)}:{name} ({n})" for p, name, n in _functions() if n > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_median_function_length():
    lengths = [n for _, _, n in _functions()]
    assert len(lengths) > 100
    median = statistics.median(lengths)
    assert median <= MAX_MEDIAN_FUNCTION_LINES, f"median function length {median} > {MAX_MEDIAN_FUNCTION_LINES}"


def test_no_import_cycle():
    graph = _import_graph()
    assert sum(map(len, graph.values())) > 100  # the graph was really built
    cycle = find_cycle(graph)
    assert cycle is None, "module-level import cycle: " + " -> ".join(cycle)


def test_core_does_not_import_flows_analytics_prefect_or_duckdb():
    bad = []
    for name, path in _modules().items():
        if not name.startswith("ivos_core"):
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _imported(name, path.name == "__init__.py", node):
                    if target.split(".")[0] in CORE_MAY_NOT_IMPORT:
                        bad.append(f"{_rel(path)}:{node.lineno} imports {target}")
    assert not bad, "ivos_core must not import analytics, flows, prefect or duckdb:\n" + "\n".join(sorted(set(bad)))


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"x": {"y"}, "y": {"y2"}, "y2": {"y"}}, ["y", "y2", "y"]),
    ],
)
def test_find_cycle_itself(graph, expected):
    assert find_cycle(graph) == expected


def test_imported_names_resolve_relative_and_submodule_imports():
    node = ast.parse("from .geometry import box").body[0]
    assert _imported("ivos_core.users.strokes", False, node) == ["ivos_core.users.geometry", "ivos_core.users.geometry.box"]
    node = ast.parse("from . import session").body[0]
    assert _imported("ivos_core.users", True, node) == ["ivos_core.users", "ivos_core.users.session"]
