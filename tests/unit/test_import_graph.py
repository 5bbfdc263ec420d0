"""Arrows point one way: no import cycles among imagevec's modules and its adapters.

Every ``import`` counts -- module level, inside functions, under ``TYPE_CHECKING`` -- because
a cycle hidden in a function is still a cycle in the design. The one exception is the
pickling idiom: an ``Encoder.__reduce__`` names the factory that rebuilds it
(``imagevec.encoders.registry``), which itself imports ``Encoder``; imports inside a
``__reduce__`` method are therefore left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREES = (ROOT / "src", ROOT / "integrations")
OURS = ("imagevec", "langchain_imagevec", "llama_index")


def _module_name(path: Path, tree: Path) -> str:
    parts = list(path.relative_to(tree).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for tree in TREES:
        for path in tree.rglob("*.py"):
            name = _module_name(path, tree)
            if name.startswith(OURS):
                found[name] = path
    return found


class _Imports(ast.NodeVisitor):
    """Every module name imported, except inside ``__reduce__`` methods."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.names: set[str] = set()
        self.from_imports: list[tuple[str, list[str]]] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name != "__reduce__":
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parent = self.package.rsplit(".", node.level - 1)[0] if node.level > 1 else self.package
            base = f"{parent}.{base}" if base else parent
        self.from_imports.append((base, [alias.name for alias in node.names]))


def import_graph() -> dict[str, set[str]]:
    """``module -> modules of ours it imports`` (names that are not modules are dropped)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        visitor = _Imports(package)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        names = set(visitor.names)
        for base, imported in visitor.from_imports:
            # ``from pkg import sub`` imports the module pkg.sub; ``from pkg import name``
            # (not a module) imports pkg itself.
            subs = {f"{base}.{item}" for item in imported} & modules.keys()
            names |= subs
            if len(subs) < len(imported):
                names.add(base)
        graph[name] = {n for n in names if n in modules and n != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_sees_function_local_and_type_checking_imports() -> None:
    graph = import_graph()
    assert "imagevec.encoders.registry" in graph["imagevec.index"]  # a function-local import
    assert len(graph) > 50


def test_a_planted_cycle_is_found() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_evaluation_does_not_import_training() -> None:
    assert not any(n.startswith("imagevec.training") for n in import_graph()["imagevec.evaluation"])
