"""The seam between a client connection and the request handlers it hosts (HTTP exchanges, WebSockets,
HTTP/2 streams): what a handler may use, and nothing more.

A handler sees two narrow things, never the objects behind them:

* :class:`ClientSocket`, its connection: write, close or abort it, pause reading, ask who is on the
  other end, and (HTTP/1.x) hand the connection back when a response is complete. The
  :class:`~interfaceserver.connection.Connection` implements it and alone decides what it runs
  (the parser, an exchange, a WebSocket, HTTP/2); handlers never assign its attributes.
* :class:`HttpServices` / :class:`WebSocketServices`, the process-wide services each kind of handler
  uses (read only): the layer, the reply table, timers, limits, metrics and the access log. The
  :class:`~interfaceserver.context.Context` implements both; the connection passes it in.

Unit tests drive an exchange or a WebSocket with a fake that has these members only, so a handler
that reaches past the seam fails there (tests/unit/test_is_seam.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet.address import UNIXAddress

from .messages import Peer

if TYPE_CHECKING:
    from .accesslog import AccessLogHook
    from .bodybudget import BodyBudget
    from .config import Config
    from .context import ReplyTarget, Sender
    from .exchange import Exchange
    from .metrics import Metrics
    from .sweep import DeadlineSweep, Sweep

__all__ = ["ClientSocket", "HttpServices", "Services", "WebSocketServices", "peer_of"]


def peer_of(address: Any) -> Peer:
    """A Twisted address as ASGI 1 reports it: ``[host, port]``, or None for a UNIX socket."""
    if isinstance(address, UNIXAddress) or not hasattr(address, "host"):
        return None
    return [address.host, address.port]


class ClientSocket(Protocol):
    """The client connection as the handler it hosts sees it."""

    def write(self, data: bytes) -> None:
        """Send ``data`` (bounded: a client that stops reading is dropped)."""

    def close(self) -> None:
        """Close once everything written has been sent."""

    def abort(self) -> None:
        """Drop the connection now."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def client(self) -> Peer:
        """The peer as ``[host, port]``, still known after the connection is lost."""

    def addresses(self) -> tuple[Peer, Peer, str]:
        """``(client, server, scheme)`` of the socket, before proxy headers."""

    def proxy_trusted(self) -> bool:
        """Whether this peer's proxy headers are believed."""

    def exchange_finished(self, exchange: Exchange, keep_alive: bool) -> None:
        """An HTTP/1.x exchange is over: serve the next request or close."""


class Services(Protocol):
    """What every handler uses of its process (see :class:`~interfaceserver.context.Context`)."""

    @property
    def config(self) -> Config: ...

    @property
    def clock(self) -> Any: ...  # an IReactorTime

    @property
    def io(self) -> Sender: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def access_log(self) -> AccessLogHook | None: ...

    def register(self, target: ReplyTarget) -> str: ...

    def unregister(self, reply_channel: str) -> None: ...

    def warn(self, kind: str, message: str, *args: Any) -> None: ...

    def notify(self, channel: str, message: Mapping[str, Any]) -> None: ...


class HttpServices(Services, Protocol):
    """What an HTTP exchange or HTTP/2 stream uses besides :class:`Services`."""

    @property
    def draining(self) -> bool: ...

    @property
    def body_budget(self) -> BodyBudget: ...

    @property
    def http_sweep(self) -> Sweep: ...

    @property
    def http_timeout(self) -> float | None: ...


class WebSocketServices(Services, Protocol):
    """What a WebSocket uses besides :class:`Services`."""

    @property
    def layer_message_limit(self) -> int | None: ...

    @property
    def connecting_sweep(self) -> Sweep: ...

    @property
    def ws_sweep(self) -> DeadlineSweep: ...

    @property
    def connect_timeout(self) -> float | None: ...

    @property
    def handshake_timeout(self) -> float | None: ...

    @property
    def websocket_timeout(self) -> float | None: ...
