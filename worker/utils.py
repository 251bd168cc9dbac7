"""Small helpers shared by the worker modules."""

from __future__ import annotations

import types
from typing import Any

__all__ = ["name_that_thing"]


def name_that_thing(thing: Any) -> str:
    """A readable dotted name for a consumer (function, class, instance, bound method) for logs."""
    if isinstance(thing, types.MethodType):
        return f"{name_that_thing(thing.__self__)}.{thing.__func__.__name__}"
    if isinstance(thing, (types.FunctionType, types.BuiltinFunctionType, type)):
        module = getattr(thing, "__module__", None)
        qualname = getattr(thing, "__qualname__", getattr(thing, "__name__", repr(thing)))
        return f"{module}.{qualname}" if module else qualname
    if hasattr(thing, "__class__"):
        return name_that_thing(thing.__class__)
    return repr(thing)
