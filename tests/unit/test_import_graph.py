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


#: The rooms, bottom first. A module may import its own rank or a lower one, never a higher
#: one ("arrows point one way"). ``imagevec.store.record`` is the metadata schema: a leaf
#: every layer reads (``io.exif`` names the EXIF fields with it), like ``types``.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "process", "types", "store.record"),
    ("io", "samples"),
    ("preprocess", "batching", "encoders", "engine", "store"),
    ("search", "index", "evaluation", "training", "scale", "service"),
    ("serve", "mcp", "bench"),
    ("cli", "", "__main__"),  # "": the package itself (its lazy public API)
)
ADAPTERS = ("langchain_imagevec", "llama_index")
ENCODER_SIDE = ("encoders", "engine", "batching", "preprocess")


def _room(module: str) -> str:
    """``imagevec.store.chroma`` -> ``store``; ``imagevec.store.record`` stays itself."""
    inner = module.removeprefix("imagevec").removeprefix(".")
    if inner == "store.record" or inner.startswith("store.record."):
        return "store.record"
    return inner.split(".")[0]


def _rank(module: str) -> int:
    if module.startswith(ADAPTERS):
        return len(LAYERS)
    room = _room(module)
    for rank, rooms in enumerate(LAYERS):
        if room in rooms:
            return rank
    raise AssertionError(f"{module}: add its room {room!r} to LAYERS in {__file__}")


def test_no_module_imports_upward() -> None:
    upward = [
        f"{a} -> {b}"
        for a, imported in import_graph().items()
        for b in imported
        if _rank(b) > _rank(a)
    ]
    assert not upward, "\n".join(sorted(upward))


def test_storage_imports_no_encoder_code_and_encoders_no_storage() -> None:
    graph = import_graph()
    crossing = [
        f"{a} -> {b}"
        for a, imported in graph.items()
        for b in imported
        if (_room(a) == "store" and _room(b) in ENCODER_SIDE)
        or (_room(a) in ENCODER_SIDE and _room(b) == "store")
    ]
    assert not crossing, "\n".join(crossing)


def test_the_layer_check_sees_an_upward_import() -> None:
    assert _rank("imagevec.store.chroma") < _rank("imagevec.index") < _rank("imagevec.cli.app")
    assert _rank("imagevec.store.record") == 0 and _rank("langchain_imagevec.tools") == 6
