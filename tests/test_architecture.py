"""The layers of the package, read from its source: imports run one way and form no cycle.

Every import counts, the ones under ``if TYPE_CHECKING:`` and the ones inside functions too: a lazy import is
still a dependency, and a type-only one still ties two modules' meanings together. An import of a package's
submodule counts as a dependency on that submodule alone (not on the package's ``__init__``), as tools that
check layer contracts read it.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "src" / "steppe"

# Lower layers first. A module may import modules of its own layer and of the layers before it, never after.
# `_engine` and `_protocol` share a rank but may not import each other: each builds on the core alone.
LAYERS: dict[str, int] = {
    "steppe._core": 0,
    "steppe.options": 0,
    "steppe._engine": 1,
    "steppe._protocol": 1,
    "steppe._client": 2,
    "steppe.serve": 3,
    "steppe.testing": 3,
    "steppe.cli": 3,
    "steppe._cli": 3,
    "steppe._operate": 3,  # operating runs (steppe.Runs, the worker, their commands): on the engine and the client
    "steppe._dev": 3,  # `steppe dev`: the worker and the browser UI, under the command that starts them
    "steppe": 4,  # the package's own __init__: the public names, on top of everything
}
SIBLINGS_APART = {frozenset({"steppe._engine", "steppe._protocol"})}


def module_names() -> dict[str, Path]:
    names: dict[str, Path] = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = ["steppe", *path.relative_to(PACKAGE_ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


MODULES = module_names()


def imported_modules(module: str, path: Path) -> Iterator[str]:
    """Every steppe module ``module`` imports, wherever the import statement stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                yield submodule if submodule in MODULES else source


@functools.cache
def import_graph() -> dict[str, frozenset[str]]:
    graph: dict[str, frozenset[str]] = {}
    for module, path in MODULES.items():
        graph[module] = frozenset(name for name in imported_modules(module, path) if name in MODULES and name != module)
    return graph


def layer_of(module: str) -> str:
    return max((prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")), key=len)


def cycles(graph: Mapping[str, AbstractSet[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_the_real_package() -> None:
    graph = import_graph()
    assert "steppe._core.step" in graph and "steppe._engine.engine" in graph and "steppe._protocol.endpoint" in graph
    assert "steppe._core.step" in graph["steppe._engine.engine"] or any(
        name.startswith("steppe._core.") for name in graph["steppe._engine.engine"]
    )


def test_no_import_cycle_among_steppe_modules() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_belongs_to_a_layer() -> None:
    for module in MODULES:
        assert layer_of(module) in LAYERS, module


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_down_the_layers(module: str) -> None:
    own = layer_of(module)
    for imported in sorted(import_graph()[module]):
        other = layer_of(imported)
        assert LAYERS[other] <= LAYERS[own], f"{module} (layer {own}) imports {imported} (layer {other}), a layer above"
        assert frozenset({own, other}) not in SIBLINGS_APART, (
            f"{module} imports {imported}: {own} and {other} stay apart"
        )


def test_implementation_modules_are_private() -> None:
    public = {name for name in MODULES if not any(part.startswith("_") for part in name.split("."))}
    assert public == {
        "steppe",
        "steppe.cli",
        "steppe.options",
        "steppe.serve",
        "steppe.serve.django",
        "steppe.serve.fastapi",
        "steppe.serve.flask",
        "steppe.serve.starlette",
        "steppe.testing",
    }
