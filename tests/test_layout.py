"""The direction of imports between the parts of ``focushub`` (docs/architecture.md, Layout).

Read from the source with ``ast``, so a wrong arrow fails here before review.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "focushub"

PLUMBING = {"core", "integrations", "devdb"}
CLIENTS = {"realtime", "web"}
ENTRY = {"app", "cli", "wiring", "__main__"}
NOT_DOMAINS = PLUMBING | CLIENTS | ENTRY | {"migrations", "seed", "__init__"}


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "focushub" and len(parts) > 1 else None


def _module_imports() -> dict[str, set[str]]:
    """module -> focushub modules it imports (at module level, inside functions, or for
    type checking alike)."""
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
        ".__init__") for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        source = source.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from package import module" names a module, not only the package.
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name in modules and name != source and name.startswith("focushub."):
                    graph[source].add(name)
    return graph


def _imports() -> dict[str, set[str]]:
    """part -> parts it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, targets in _module_imports().items():
        here = _part(source) or "__init__"
        for target in targets:
            there = _part(target)
            if there and there != here:
                graph[here].add(there)
    return graph


def _domains(graph: dict[str, set[str]]) -> set[str]:
    parts = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return parts - NOT_DOMAINS


def test_plumbing_imports_no_domain_and_no_client():
    graph = _imports()
    for part in PLUMBING:
        wrong = graph[part] - PLUMBING
        assert not wrong, f"{part}/ imports {sorted(wrong)}"


def test_domains_never_import_clients_entry_or_the_seed():
    graph = _imports()
    for domain in _domains(graph):
        wrong = graph[domain] & (CLIENTS | ENTRY | {"seed", "devdb"})
        assert not wrong, f"{domain}/ imports {sorted(wrong)}"


def test_migrations_import_no_application_code():
    for path in (PACKAGE / "migrations" / "versions").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("focushub.") or node.module.startswith(
                    "focushub.migrations."), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("focushub."), f"{path.name}: {alias.name}"


def _find_cycle(graph: dict[str, set[str]]) -> None:
    seen: set[str] = set()
    stack: list[str] = []

    def visit(node: str) -> None:
        if node in stack:
            cycle = stack[stack.index(node):] + [node]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if node in seen:
            return
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        stack.pop()
        seen.add(node)

    for node in sorted(graph):
        visit(node)


def test_no_import_cycles_between_parts():
    _find_cycle(_imports())


def test_no_import_cycles_between_modules():
    graph = _module_imports()
    # A package's __init__ re-exporting its own modules is not a cycle of behaviour.
    for source in list(graph):
        graph[source] = {t for t in graph[source] if not source.startswith(t + ".")}
    _find_cycle(graph)
