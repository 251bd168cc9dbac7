"""The shape of the worker package: its modules import each other without a cycle.

The graph is read from the source with ``ast``: module-level imports only (function-level imports
run later and cannot deadlock an import), and ``if TYPE_CHECKING:`` blocks left out (they never run).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

from tests.djangoapp_http import bootstrap

bootstrap.setup()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from worker.handler import ViewConsumer  # noqa: E402
from worker.routing import Router  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[2] / "worker"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: top level, and inside top-level if/try blocks."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _module_level_imports(node.body)
            found += _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                found += _module_level_imports(block)
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: set[str]) -> set[str]:
    """The worker modules an import statement loads (``from . import x`` loads ``x`` when it is a module)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = package[: len(package) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    targets = {f"{source}.{alias.name}" for alias in node.names} & modules
    if source in modules:
        targets.add(source)
    return targets


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the modules of ``package`` it imports at module level."""
    paths = {_module_name(path, package.parent): path for path in package.rglob("*.py")}
    modules = set(paths)
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = set()
        for node in _module_level_imports(tree.body):
            graph[module] |= _targets(module, path.name == "__init__.py", node, modules)
        graph[module].discard(module)
    return graph


def test_worker_modules_import_each_other_without_a_cycle():
    """No chain of module-level imports among worker modules leads back to where it started."""
    graph = import_graph()
    assert "worker.routing" in graph and "worker.handler" in graph
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle among worker modules: {' -> '.join(exc.args[1])}")


def test_the_graph_reader_sees_a_cycle_and_skips_type_checking_imports(tmp_path):
    """The checker itself: a cycle through module-level imports is found; one through TYPE_CHECKING is not."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import thing\n")
    (package / "b.py").write_text("try:\n    from . import c\nexcept ImportError:\n    pass\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n")
    graph = import_graph(package)
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg", "pkg.c"}, "pkg.c": set()}
    (package / "c.py").write_text("import pkg.a\n")
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(import_graph(package)).static_order())


def test_routing_never_imports_the_view_handler():
    """Routing gets its default http.request consumer injected; no import of worker.handler anywhere in it."""
    tree = ast.parse((PACKAGE / "routing.py").read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module or ''}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    assert imported and not [name for name in imported if "handler" in name.split(".")]


def test_check_default_uses_the_registered_http_consumer_or_says_what_is_missing(monkeypatch):
    """check_default() builds http.request's consumer from Router.default_http_consumer; with none, ImproperlyConfigured."""
    assert Router.default_http_consumer is ViewConsumer  # registered by the channels app at setup
    built = []

    def factory():
        built.append(len)
        return len

    monkeypatch.setattr(Router, "default_http_consumer", factory)
    router = Router([])
    router.check_default()
    assert built == [len] and router.root.routing[0].consumer is len
    monkeypatch.setattr(Router, "default_http_consumer", None)
    with pytest.raises(ImproperlyConfigured, match="No default http.request consumer"):
        Router([]).check_default()
    explicit = Router([])
    explicit.check_default(http_consumer=print)
    assert explicit.root.routing[0].consumer is print
