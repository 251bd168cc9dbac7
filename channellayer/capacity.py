"""Per-channel capacity: a default plus ``channel_capacity`` overrides.

Overrides map an fnmatch glob (``str``) or a compiled regex (anything with ``.match``) to a
capacity. The first pattern that matches wins, so pass an ordered mapping when order matters.
Matching is done on the non-local name: ``daphne.response.AbC!`` for a process-specific channel.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Mapping
from re import Pattern
from typing import Any

from .options import positive

__all__ = ["CapacityTable"]


class CapacityTable:
    """Looks up the capacity of a (non-local) channel name."""

    def __init__(self, default: int, overrides: Mapping[Any, int] | None = None) -> None:
        self.default: int = positive("capacity", default)
        if overrides is not None and not isinstance(overrides, Mapping):
            raise ValueError(f"channel_capacity must be a dict of pattern -> capacity, not {type(overrides).__name__}")
        self._patterns: list[tuple[Pattern[str], int]] = []
        for pattern, capacity in (overrides or {}).items():
            positive(f"channel_capacity[{pattern!r}]", capacity)
            if isinstance(pattern, str):
                compiled: Pattern[str] = re.compile(fnmatch.translate(pattern))
            elif hasattr(pattern, "match"):
                compiled = pattern
            else:
                raise ValueError(f"channel_capacity key {pattern!r} must be a glob string or a compiled regex")
            self._patterns.append((compiled, capacity))
        self.lookup = functools.lru_cache(maxsize=4096)(self._lookup)

    def _lookup(self, name: str) -> int:
        for pattern, capacity in self._patterns:
            if pattern.match(name):
                return capacity
        return self.default
