"""The one frozen configuration of an interface-server process, built by the CLI and read by the server.

Field names follow Daphne 1.4.2's ``Server`` keyword arguments where one existed; the rest are the
production limits Daphne never had. Every field has the default the CLI uses, so
``Config(channel_layer="x:y")`` is a complete configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = ["DEFAULT_ENDPOINT", "Config", "build_endpoints"]

#: Daphne binds here when no binding option is given at all.
DEFAULT_ENDPOINT = "tcp:port=8000:interface=127.0.0.1"


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything an interface server needs to know; immutable once built."""

    #: ``module.path:attr`` of a channel layer object (Daphne's positional argument), or "" with ``layer``.
    channel_layer: str = ""
    #: Alternative to ``channel_layer``: a backend name for ``channellayer.get_channel_layer`` and its config.
    layer: str | None = None
    layer_config: tuple[tuple[str, object], ...] = ()
    #: Twisted endpoint strings (``tcp:``, ``unix:``, ``ssl:``, ``fd:fileno=N``) to listen on.
    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)

    # -- Daphne 1.4.2 options --------------------------------------------------------------
    http_timeout: float = 120
    #: None (or 0) means the layer's ``group_expiry``; -1 means no limit.
    websocket_timeout: float | None = None
    #: -1 means no limit (Daphne 1.4.2 rejected every socket with -1; we do not).
    websocket_connect_timeout: float = 5
    websocket_handshake_timeout: float = 5
    ping_interval: float = 20
    ping_timeout: float = 30
    ws_protocols: tuple[str, ...] = ()
    root_path: str = ""
    proxy_headers: bool = False
    #: Accepted and ignored: replies are always read without polling.
    force_sync: bool = False
    verbosity: int = 1
    #: "-" for stdout, a path, or None (stdout when verbosity >= 1, as Daphne did).
    access_log: str | None = None

    # -- production limits -----------------------------------------------------------------
    #: Peers whose X-Forwarded-* headers are believed ("*" = anyone, "unix" = UNIX-socket peers).
    proxy_trusted: tuple[str, ...] = ("127.0.0.1", "::1", "unix")
    max_request_body: int = 100 * 1024 * 1024
    max_header_size: int = 16 * 1024
    max_headers: int = 100
    header_timeout: float = 20
    max_ws_message: int = 1024 * 1024
    #: Request bodies larger than this go over a ``body_channel`` in chunks of this size.
    body_stream_threshold: int = 512 * 1024
    #: Bytes of response data held for one slow-reading client before it is dropped.
    write_buffer_limit: int = 16 * 1024 * 1024
    drain_timeout: float = 30
    #: Listen queue of every listening socket (the kernel caps it at net.core.somaxconn).
    backlog: int = 2048
    #: Request-body bytes all connections together may hold in memory; past it a request gets 503.
    max_buffered_body: int = 64 * 1024 * 1024

    # -- operations (docs/operations.md) ---------------------------------------------------
    #: Port of the Prometheus ``/metrics`` and ``/healthz`` endpoint (None: not served; 0: any free port).
    metrics_port: int | None = None
    metrics_bind: str = "127.0.0.1"
    #: Seconds between two announcements of this server on the layer (``python -m channellayer status``).
    heartbeat_interval: float = 5.0

    def __post_init__(self) -> None:
        if not self.channel_layer and not self.layer:
            raise ValueError("a channel layer is required: module.path:attr or a layer backend name")
        if not self.endpoints:
            raise ValueError("at least one endpoint is required")
        for name in (
            "max_request_body",
            "max_header_size",
            "max_headers",
            "max_ws_message",
            "body_stream_threshold",
            "write_buffer_limit",
            "backlog",
            "max_buffered_body",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        if self.body_stream_threshold > 900 * 1024:
            raise ValueError("body_stream_threshold must stay below the layer's 1 MiB message limit (max 921600)")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port must be a TCP port (0-65535), not {self.metrics_port!r}")
        if self.heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval must be positive, not {self.heartbeat_interval!r}")
        if self.verbosity not in (0, 1, 2, 3):
            raise ValueError(f"verbosity must be 0, 1, 2 or 3, not {self.verbosity!r}")

    def effective_websocket_timeout(self, group_expiry: float) -> float | None:
        """Seconds a WebSocket may live, or None for no limit (Daphne: None/0 -> group_expiry, -1 -> infinite)."""
        if self.websocket_timeout is None or self.websocket_timeout == 0:
            return group_expiry
        if self.websocket_timeout < 0:
            return None
        return self.websocket_timeout

    @staticmethod
    def limit(value: float) -> float | None:
        """Turn a "-1 means no limit" option into None (for any negative value) or the value."""
        return None if value < 0 else value


def _escape_host(host: str) -> str:
    return host.strip("[]").replace(":", r"\:")


def build_endpoints(
    host: str | None = None,
    port: int | None = None,
    unix_socket: str | None = None,
    file_descriptor: int | None = None,
    endpoints: Sequence[str] = (),
) -> tuple[str, ...]:
    """Daphne 1.4.2's endpoint strings from its binding options (reference §4.1), sorted."""
    result: list[str] = []
    if port is not None and host is None:
        host = "127.0.0.1"
    if host is not None and port is None:
        port = 8000
    if host is not None and port is not None:
        result.append(f"tcp:port={port}:interface={_escape_host(host)}")
    if unix_socket is not None:
        result.append(f"unix:{unix_socket}")
    if file_descriptor is not None:
        result.append(f"fd:fileno={file_descriptor}")
    result.extend(endpoints)
    if not result:
        result.append(DEFAULT_ENDPOINT)
    return tuple(sorted(result))
