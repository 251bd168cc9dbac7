"""Listening endpoints from Twisted endpoint strings, plus ``fd:fileno=N`` for inherited sockets.

Twisted parses ``tcp:``, ``unix:`` and ``ssl:`` itself. Daphne 1.4.2 added ``fd:`` with a plugin that
assumed AF_INET; here the socket's own family is used, so supervisord ``fcgi-program`` and systemd
socket activation work with TCP (v4 or v6) and UNIX sockets alike.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from zope.interface import implementer

from .errors import InterfaceServerError

__all__ = ["AdoptedSocketEndpoint", "NotAListeningSocket", "endpoint_from_string"]


class NotAListeningSocket(InterfaceServerError, ValueError):
    """``--fd N`` names a descriptor that is not a listening stream socket; the message says what to do."""

    def __init__(self, fileno: int, reason: str) -> None:
        super().__init__(
            f"fd {fileno} is not a listening socket ({reason}). --fd {fileno} adopts a socket that the parent "
            "process has already bound and set listening: run this command under supervisord as an "
            "[fcgi-program] with socket=tcp://... (which passes it as fd 0) or from a systemd .socket unit "
            "(fd 3), not by hand or as a plain [program]; or let the server bind by itself with -b/-p, -u or -e."
        )
        self.fileno = fileno
        self.reason = reason


def _check_listening(fileno: int) -> int:
    """The address family of the listening stream socket ``fileno``; NotAListeningSocket otherwise."""
    try:
        # socket(fileno=...) detects the family; detach so the descriptor stays open for Twisted.
        probe = socket.socket(fileno=fileno)
    except OSError as exc:  # EBADF: not open; ENOTSOCK ([Errno 88]): a file, pipe or terminal
        raise NotAListeningSocket(fileno, f"[Errno {exc.errno}] {exc.strerror}") from exc
    try:
        if probe.type != socket.SOCK_STREAM:
            raise NotAListeningSocket(fileno, f"it is a {probe.type.name} socket, not SOCK_STREAM")
        if not probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise NotAListeningSocket(fileno, "it is a socket, but not listening: unbound or connected")
        return int(probe.family)
    finally:
        probe.detach()


@implementer(IStreamServerEndpoint)
class AdoptedSocketEndpoint:
    """Listen on an already bound and listening socket inherited as file descriptor ``fileno``."""

    def __init__(self, reactor: Any, fileno: int) -> None:
        self.reactor = reactor
        self.fileno = fileno

    def listen(self, factory: Any) -> Deferred[Any]:
        """Adopt the socket; a failed Deferred (NotAListeningSocket) when ``fileno`` is not one."""
        try:
            family = _check_listening(self.fileno)
        except NotAListeningSocket as exc:
            return fail(exc)
        os.set_blocking(self.fileno, False)  # Twisted requires a non-blocking listening socket
        return succeed(self.reactor.adoptStreamPort(self.fileno, family, factory))


def _parse_fd(description: str) -> int:
    value = description[3:]
    if value.startswith("fileno="):
        value = value[len("fileno=") :]
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
