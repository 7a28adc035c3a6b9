"""The package's layers point down: no import cycle, no import of a higher layer.

Every ``import`` in every module under ``sse_asgi/`` counts, also those under
``if TYPE_CHECKING:`` and inside functions: a type-level cycle is still a
cycle a reader has to untangle. The layers, lowest first, are listed in
:data:`LAYERS`; a module may import its own layer and those below it, and
within a layer nothing may import in a circle. A new module must be given a
layer here (the test says so), which is where its place is decided.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sse_asgi"

#: Lowest first. A name ending in ``.`` is every module of that subpackage.
LAYERS: list[tuple[str, set[str]]] = [
    ("base", {"_errors", "types", "_eventloop"}),
    ("wire", {"_encoder", "_decoder"}),
    ("serialization", {"_json"}),
    ("event", {"_event", "_relay"}),
    (
        "stream policy",
        {"_item_encoder", "_options", "_headers", "_timing_policy", "_iterate", "_shutdown"},
    ),
    (
        "send loop",
        {
            "_suspension",
            "_direct_writes",
            "_loop_timers",
            "_driver",
            "_asyncio_driver",
            "_anyio_driver",
            "_send_loop",
        },
    ),
    ("response", {"_response", "_event_stream"}),
    # Built on the response, for any framework: the test client, fan-out, consuming.
    ("toolkit", {"testing", "broadcast.", "client."}),
    # Bound to another library: Starlette/FastAPI, redis-py (its re-export of the backend).
    ("adapters", {"starlette", "fastapi", "redis"}),
    ("package", {"__init__", "__main__"}),
]

#: Imports that break the rules today, each with its reason; each must still exist
#: (the test says when one is gone, so the entry goes too).
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    """``sse_asgi/broadcast/_front.py`` -> ``broadcast._front``; a package is its ``__init__``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module's source (the package is pure Python: tests/test_build_config.py)."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if module == member or (member.endswith(".") and module.startswith(member)):
                return index
            if member.endswith(".") and module == member[:-1]:
                return index
    raise AssertionError(f"sse_asgi.{module} has no layer: add it to LAYERS in {__file__}")


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of this package that ``module`` imports, by their names in :func:`modules`."""
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    if module == "__init__":
        here = []
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                prefix = ".".join([*base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            # ``from . import _event`` names a module; ``from ._event import X`` does not.
            targets = [f"{prefix}.{alias.name}".strip(".") for alias in node.names]
            if node.module:  # ``from . import x`` imports x, not the package's __init__
                targets.append(prefix)
        for target in targets:
            if node_is_absolute(node):
                if not target.startswith("sse_asgi"):
                    continue
                target = target.removeprefix("sse_asgi").lstrip(".") or "__init__"
            if target in known and target != module:
                found.add(target)
    return found


def node_is_absolute(node: ast.AST) -> bool:
    return isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not node.level)


def import_graph() -> dict[str, set[str]]:
    """Each module's imports of this package's modules, but :data:`KNOWN_EXCEPTIONS`."""
    found = modules()
    graph = {module: imports_of(module, path, set(found)) for module, path in found.items()}
    for module, target in KNOWN_EXCEPTIONS:
        assert target in graph[module], f"{module} no longer imports {target}: drop the exception"
        graph[module].discard(target)
    return graph


def test_the_graph_is_read_from_the_sources() -> None:
    """The reader finds what the modules really import (so the tests below can fail)."""
    graph = import_graph()
    assert "_send_loop" in graph["_response"]
    assert "_event" in graph["broadcast._front"]  # from .._event import ...
    assert "_event" in graph["_shutdown"]  # under TYPE_CHECKING


def test_every_form_of_import_is_read(tmp_path: Path) -> None:
    """Each way to name a module of the package, as a module under ``broadcast/`` writes it
    (no module uses some of them today; the reader must still see them when one does)."""
    known = {"__init__", "_event", "_json", "_errors", "broadcast", "broadcast._backend"}
    source = tmp_path / "_new.py"
    source.write_text(
        "import sse_asgi._errors\n"
        "from sse_asgi import _json\n"
        "from .. import _event\n"
        "from . import _backend\n",
        encoding="utf-8",
    )
    # ``from sse_asgi import x`` runs the package's __init__ too; ``from . import x`` names x.
    found = imports_of("broadcast._new", source, known)
    assert found == {"_errors", "_json", "__init__", "_event", "broadcast._backend"}


def test_every_module_has_a_layer() -> None:
    for module in modules():
        layer_of(module)


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    graph = import_graph()
    mine = layer_of(module)
    upward = {
        f"{target} ({LAYERS[layer_of(target)][0]})"
        for target in graph[module]
        if layer_of(target) > mine
    }
    assert not upward, f"sse_asgi.{module} ({LAYERS[mine][0]}) imports upward: {sorted(upward)}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as the path that closes it (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"b"}}) == ["b", "b"]
    assert find_cycle({"x": {"a"}, "a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_there_is_no_import_cycle() -> None:
    # The package __init__ is imported by Python before any of its modules, but
    # no module imports it: an edge to it would be upward, caught above.
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_shutdown_knows_no_stream_and_the_send_loop_no_response() -> None:
    """Shutdown is a registry the streams call, and the send loop takes its options, not
    the response object: neither reaches back up to what uses it."""
    graph = import_graph()
    assert graph["_shutdown"] <= {"_eventloop", "_event"}
    assert "_response" not in graph["_send_loop"]
