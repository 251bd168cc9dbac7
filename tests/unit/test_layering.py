"""The package layering of docs/DESIGN.md, enforced: the suite fails on a layering violation.

``channels -> worker -> channellayer <- interfaceserver``; interfaceserver never imports Django or
worker, and worker reaches interfaceserver only through ``interfaceserver.embedded`` and
``interfaceserver.config``. The contracts live in pyproject.toml ``[tool.importlinter]`` (also run by
``make lint`` as ``lint-imports``); the imports are read from the source, nothing is imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]

# What the facade may import besides the standard library: it re-exports, it does not implement.
FACADE_MAY_IMPORT = {"channels", "worker", "channellayer", "django"}


def test_import_contracts_are_kept() -> None:
    """Every import-linter contract in pyproject.toml is kept (a forbidden import fails the suite)."""
    # In a child process: lint-imports configures logging for the whole process it runs in.
    done = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
        + ["--no-cache", "--no-logo"],
        cwd=ROOT,  # lint-imports reads the pyproject.toml of the directory it runs in
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_facade_imports_only_worker_channellayer_django_and_stdlib() -> None:
    """channels/ imports nothing but itself, worker, channellayer, Django and the standard library."""
    graph = grimp.build_graph("channels", include_external_packages=True)
    stray = sorted(
        f"{module} -> {imported}"
        for module in graph.modules
        if module.startswith("channels")
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.split(".")[0] not in FACADE_MAY_IMPORT | sys.stdlib_module_names
    )
    assert stray == []
