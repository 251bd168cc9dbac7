"""ASGI 1 channel and group name rules.

Names are ASCII letters, digits, ``-``, ``_`` and ``.``; a channel name may carry one ``?``
(single-reader, made by ``new_channel``) or one ``!`` (process-specific: the part up to and
including ``!`` names the process's list, the rest is the local part). Names are shorter than
100 characters, as asgiref 1.x enforced.
"""

from __future__ import annotations

import functools
import re

from .errors import InvalidName

__all__ = [
    "MAX_NAME_LENGTH",
    "check_channel_name",
    "check_group_name",
    "non_local_name",
    "is_process_specific",
]

MAX_NAME_LENGTH = 99

_CHANNEL = re.compile(r"[a-zA-Z\d\-_.]+([?!][\w\-.]*)?", re.ASCII)
_GROUP = re.compile(r"[a-zA-Z\d\-_.]+", re.ASCII)


def _describe(kind: str, name: object) -> str:
    return f"{kind} name {name!r}"


@functools.lru_cache(maxsize=8192)
def _check_channel(name: str, receive: bool) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"{_describe('channel', name)} is longer than {MAX_NAME_LENGTH} characters")
    if not _CHANNEL.fullmatch(name):
        raise InvalidName(
            f"{_describe('channel', name)} is invalid: use ASCII letters, digits, '-', '_', '.' "
            "and at most one '?' or '!'"
        )
    if "?" in name and name.endswith("?"):
        raise InvalidName(f"{_describe('channel', name)} ends with '?'; make it with new_channel()")
    if receive and "!" in name and not name.endswith("!"):
        raise InvalidName(
            f"{_describe('channel', name)}: receive process-specific channels by their prefix "
            f"{non_local_name(name)!r}, not by the full name"
        )
    return name


def check_channel_name(name: object, receive: bool = False) -> str:
    """Return ``name`` if it is a valid channel name; raise :class:`InvalidName` naming it if not."""
    if not isinstance(name, str):
        raise InvalidName(f"{_describe('channel', name)} must be str, not {type(name).__name__}")
    return _check_channel(name, receive)


@functools.lru_cache(maxsize=8192)
def _check_group(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"{_describe('group', name)} is longer than {MAX_NAME_LENGTH} characters")
    if not _GROUP.fullmatch(name):
        raise InvalidName(f"{_describe('group', name)} is invalid: use ASCII letters, digits, '-', '_' and '.'")
    return name


def check_group_name(name: object) -> str:
    """Return ``name`` if it is a valid group name; raise :class:`InvalidName` naming it if not."""
    if not isinstance(name, str):
        raise InvalidName(f"{_describe('group', name)} must be str, not {type(name).__name__}")
    return _check_group(name)


def non_local_name(name: str) -> str:
    """The part of a process-specific name up to and including ``!``; other names unchanged."""
    bang = name.find("!")
    return name if bang < 0 else name[: bang + 1]


def is_process_specific(name: str) -> bool:
    return "!" in name
