"""Import an object by its dotted path: the one importer every package uses.

Two spellings are accepted, as in the configuration files Channels 1 projects already have:
``package.module.attr`` (the last dot splits module from attribute, as Django settings write it)
and ``package.module:attr.inner`` (the colon splits them, as ``daphne project.asgi:channel_layer``
writes it, so the attribute part may itself be dotted).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["import_object"]


def import_object(path: str, what: str = "object") -> Any:
    """The object at ``path``; ``ImportError`` naming ``what`` and the path when it cannot be imported.

    ``ValueError`` when ``path`` is not a dotted path at all (no module part).
    """
    if not isinstance(path, str):
        raise TypeError(f"{what} path must be a str, not {type(path).__name__}")
    if ":" in path:
        module_name, _, attrs = path.partition(":")
    else:
        module_name, _, attrs = path.rpartition(".")
    if not module_name or not attrs:
        raise ValueError(f"{what} {path!r} is not a dotted path (module.attr or module:attr)")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import {what} {path!r}: {exc}") from exc
    for attr in attrs.split("."):
        try:
            value = getattr(value, attr)
        except AttributeError as exc:
            raise ImportError(f"cannot import {what} {path!r}: {exc}") from exc
    return value
