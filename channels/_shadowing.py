"""Refuse to run when a project module shadows one of channels-classic's top-level packages.

``channels`` is a facade over three top-level packages installed next to it: ``worker``,
``channellayer`` and ``interfaceserver``. A project's own ``worker.py`` (or ``worker/`` package)
beside ``manage.py`` comes first on ``sys.path`` and would be imported instead, failing far from the
cause ("cannot import name Group"). :func:`check_not_shadowed` finds where each name really comes
from and raises an ``ImportError`` that names the shadowing file and the package it hides.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["PACKAGES", "check_not_shadowed"]

#: The top-level packages the facade depends on, installed in the same folder as ``channels``.
PACKAGES = ("worker", "channellayer", "interfaceserver")


def _origin(name: str) -> str | None:
    module = sys.modules.get(name)
    if module is not None:
        return getattr(module, "__file__", None)
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"channels-classic is incompletely installed: no {name!r} package", name=name)
    return spec.origin if spec.has_location else None


def check_not_shadowed(home: Path) -> None:
    """``ImportError`` unless each of :data:`PACKAGES` is the ``home/<name>/__init__.py`` installed with ``channels``."""
    for name in PACKAGES:
        origin = _origin(name)
        expected = home / name / "__init__.py"
        if origin is not None and Path(origin).resolve() == expected.resolve():
            continue
        found = origin or f"a namespace package {name!r}"
        raise ImportError(
            f"{found} shadows channels-classic's {name!r} package (installed at {expected.parent}): "
            f"rename that module or take its folder off sys.path",
            name=name,
            path=origin,
        )
