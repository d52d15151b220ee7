"""The import graph of ``gateway/``, derived with ``ast``: no circle, and no import from a
lower layer to a higher one (docs/architecture.md draws the same layers).

Every import counts: at module level, inside a function, under ``TYPE_CHECKING``. A
module that no layer names fails the test: a new module is given its place on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "gateway"

#: Top to bottom. A module may import from its own layer and the layers below it.
#: Names are modules or packages (a package names everything in it); the longest
#: name that covers a module decides its layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry points", ("gateway.__main__", "gateway.openapi_export")),
    ("app", ("gateway.main",)),
    ("http", ("gateway.routers", "gateway.web", "gateway.middleware", "gateway.dependencies")),
    ("state", ("gateway.state", "gateway.state_metrics")),
    ("services", ("gateway.services",)),
    ("view", ("gateway.view",)),
    # What features keep, pure of HTTP and of the view: layer file indexes, the activity
    # log, the search index (services feed them through the view's changes and reads).
    ("engines", ("gateway.layers", "gateway.activity", "gateway.search")),
    ("shared state", ("gateway.shared_state", "gateway.sessions")),
    ("registry", ("gateway.registry",)),
    (
        "base",
        (
            "gateway",
            "gateway.errors",
            "gateway.settings",
            "gateway.datastore",
            "gateway.models",
            "gateway.paths",
            "gateway.error_answer",
            "gateway.scope_headers",
            "gateway.cache",
            "gateway.sizing",
            "gateway.shared_lists",
            "gateway.deadline",
            "gateway.request_id",
            "gateway.client_info",
            "gateway.logs",
            "gateway.http_protocol",
            "gateway.telemetry",
            # The storage clients: Redis (bounded calls, one error type) and sealing.
            "gateway.shared_state.store",
            "gateway.shared_state.keys",
        ),
    ),
)


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The gateway modules ``module`` imports (``from a.b import c`` is ``a.b.c`` when
    that is a module, else ``a.b``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return {name for name in found if name in known and name != module}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports(module, path, known) for module, path in known.items()}


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the name that covers it, layer)
    for rank, (_name, members) in enumerate(LAYERS):
        for member in members:
            covers = module == member or (member != "gateway" and module.startswith(member + "."))
            if covers and (best is None or len(member) > best[0]):
                best = (len(member), rank)
    return None if best is None else best[1]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and
    modules that import themselves: every import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in graph() if layer_of(m) is None)
    assert not missing, f"give these modules a layer in LAYERS: {missing}"


def test_no_import_circle() -> None:
    assert cycles(graph()) == []


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = []
    for module, targets in sorted(graph().items()):
        here = layer_of(module)
        for target in sorted(targets):
            there = layer_of(target)
            if here is not None and there is not None and there < here:
                upward.append(f"{module} ({LAYERS[here][0]}) -> {target} ({LAYERS[there][0]})")
    assert not upward, "\n".join(upward)


#: The registry client's writes (``gateway.registry.writes``): only the view calls them.
CLIENT_WRITES = {"put_manifest", "delete_manifest", "delete_blob", "upload_step", "upload_blob"}


def _receiver(node: ast.expr) -> str:
    """``a.b.c`` of an attribute chain, as written (``self.registry.client``)."""
    if isinstance(node, ast.Attribute):
        return f"{_receiver(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def bypasses(path: Path) -> list[str]:
    """Calls in ``path`` that drop the view's caches (``forget_*``) or write through the
    registry client rather than the view."""
    found = []
    where = path.relative_to(ROOT.parent) if path.is_relative_to(ROOT.parent) else path
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, receiver = node.func.attr, _receiver(node.func.value)
            forgets = name.startswith("forget_")
            writes = name in CLIENT_WRITES and receiver.rsplit(".", 1)[-1] == "client"
            if forgets or writes:
                found.append(f"{where}:{node.lineno} {receiver}.{name}")
    return found


def test_services_and_routers_write_and_invalidate_through_the_view() -> None:
    """Every write goes through the view (``view.writing``, ``WriteBatch``), which drops
    what it made stale and tells the subscribers: no service or router calls the
    client's writes or a ``forget_*`` itself."""
    paths = [*(ROOT / "services").rglob("*.py"), *(ROOT / "routers").rglob("*.py")]
    found = [line for path in sorted(paths) for line in bypasses(path)]
    assert not found, "\n".join(found)


def test_the_bypass_check_sees_a_bypass(tmp_path: Path) -> None:
    module = tmp_path / "service.py"
    module.write_text(
        "async def f(self, batch):\n"
        "    await self.registry.client.delete_manifest(1)\n"
        "    self.registry.forget_repository('x')\n"
        "    await batch.put_manifest(1)\n"  # a WriteBatch: the view's own write
        "    await self.registry.put_manifest(1)\n"  # the view's batch of one
    )
    assert sorted(line.split(" ")[1] for line in bypasses(module)) == [
        "self.registry.client.delete_manifest",
        "self.registry.forget_repository",
    ]


def test_the_checks_see_what_they_check() -> None:
    """The graph is the real one: known edges are found, and a circle would be."""
    edges = graph()
    assert "gateway.view" in edges["gateway.services.tags"]
    assert "gateway.paths" in edges["gateway.middleware.request_log"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("gateway.shared_state.keys") == len(LAYERS) - 1
    assert layer_of("gateway.shared_state.caches") == layer_of("gateway.sessions")
    # fidelity's /v2 referrers support: services, over the view
    services = layer_of("gateway.services")
    assert layer_of("gateway.services.referrers_index") == services
    assert layer_of("gateway.services.v2_referrers") == services
    assert "gateway.view" in edges["gateway.services.referrers_index"]
    assert "gateway.services.referrers_index" in edges["gateway.services.v2_referrers"]
    # face's chart metadata and each repository's last change: services; the latter a
    # subscriber of the view's changes, read by the repositories page
    assert layer_of("gateway.services.charts") == services
    assert layer_of("gateway.services.last_changed") == services
    assert "gateway.view" in edges["gateway.services.last_changed"]
    assert "gateway.services.last_changed" in edges["gateway.services.repositories"]
