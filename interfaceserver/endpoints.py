"""Listening endpoints from Twisted endpoint strings, plus ``fd:fileno=N`` for inherited sockets.

Twisted parses ``tcp:``, ``unix:`` and ``ssl:`` itself. Daphne 1.4.2 added ``fd:`` with a plugin that
assumed AF_INET; here the socket's own family is used, so supervisord ``fcgi-program`` and systemd
socket activation work with TCP (v4 or v6) and UNIX sockets alike.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from zope.interface import implementer

__all__ = ["AdoptedSocketEndpoint", "endpoint_from_string"]


@implementer(IStreamServerEndpoint)
class AdoptedSocketEndpoint:
    """Listen on an already bound and listening socket inherited as file descriptor ``fileno``."""

    def __init__(self, reactor: Any, fileno: int) -> None:
        self.reactor = reactor
        self.fileno = fileno

    def listen(self, factory: Any) -> Deferred[Any]:
        # socket(fileno=...) detects the family; detach so the descriptor stays open for Twisted.
        probe = socket.socket(fileno=self.fileno)
        family = probe.family
        probe.detach()
        os.set_blocking(self.fileno, False)  # Twisted requires a non-blocking listening socket
        return succeed(self.reactor.adoptStreamPort(self.fileno, family, factory))


def _parse_fd(description: str) -> int:
    value = description[3:]
    if value.startswith("fileno="):
        value = value[len("fileno="):]
    if not value.isdigit():
        raise ValueError(f"invalid fd endpoint {description!r}: expected fd:fileno=N")
    return int(value)


def endpoint_from_string(reactor: Any, description: str) -> Any:
    """An IStreamServerEndpoint for ``description``; ValueError names a malformed string."""
    if description.startswith("fd:"):
        return AdoptedSocketEndpoint(reactor, _parse_fd(description))
    try:
        return serverFromString(reactor, description)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"invalid endpoint {description!r}: {exc}") from exc
