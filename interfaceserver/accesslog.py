"""The access log in Daphne 1.4.2's NCSA-like format (reference §4.4).

``127.0.0.1:38222 - - [21/Nov/2026:09:55:45] "GET /" 200 5``; WebSocket lines carry
``WSCONNECTING``/``WSCONNECT``/``WSREJECT``/``WSDISCONNECT`` and the path, with ``-`` for status and size.
"""

from __future__ import annotations

import datetime
from typing import IO, Protocol

from .messages import Peer

__all__ = ["AccessLog", "AccessLogHook", "format_entry"]


def format_entry(
    client: Peer,
    request: str,
    status: int | None = None,
    length: int | None = None,
    when: datetime.datetime | None = None,
) -> str:
    host = f"{client[0]}:{client[1]}" if client else None
    date = (when or datetime.datetime.now()).strftime("%d/%b/%Y:%H:%M:%S")
    return f'{host} - - [{date}] "{request}" {status or "-"} {length or "-"}\n'


class AccessLogHook(Protocol):
    """Where finished requests and WebSocket events are reported (:class:`AccessLog` writes Daphne's lines)."""

    def http(
        self,
        client: Peer,
        method: str,
        path: str,
        status: int | None,
        length: int | None,
        time_taken: float | None = None,
    ) -> None:
        """One finished HTTP request; ``time_taken`` is seconds since it arrived."""

    def websocket(self, client: Peer, action: str, path: str) -> None:
        """A WebSocket event: ``action`` is CONNECTING, CONNECT, REJECT or DISCONNECT."""


class AccessLog:
    """Writes one line per finished HTTP request and per WebSocket event to ``stream``."""

    __slots__ = ("stream",)

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def http(
        self,
        client: Peer,
        method: str,
        path: str,
        status: int | None,
        length: int | None,
        time_taken: float | None = None,
    ) -> None:
        """``time_taken`` (seconds since the request arrived) is for hooks such as runserver's console."""
        self.stream.write(format_entry(client, f"{method} {path}", status, length))

    def websocket(self, client: Peer, action: str, path: str) -> None:
        """``action`` is CONNECTING, CONNECT, REJECT or DISCONNECT."""
        self.stream.write(format_entry(client, f"WS{action} {path}"))
