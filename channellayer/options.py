"""Validation of numeric options, shared by the layers' constructors and the command lines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["positive", "positive_parser"]

N = TypeVar("N", int, float)


def positive(option: str, value: Any, kind: type = int) -> Any:
    """``value`` if it is a positive ``kind`` (a float option also takes an int); ValueError naming ``option``."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or (kind is not float and not isinstance(value, int)) or value <= 0:
        noun = "number" if kind is float else "integer"
        raise ValueError(f"{option} must be a positive {noun}, not {value!r}")
    return value


def positive_parser(kind: type[N]) -> Callable[[str], N]:
    """An argparse/click ``type=`` that parses text as ``kind`` and refuses zero and negatives."""

    def parse(text: str) -> N:
        value = kind(text)
        if value <= 0:
            raise ValueError(text)
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse
