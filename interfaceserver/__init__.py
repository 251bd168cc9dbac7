"""The Daphne-1.4.2-compatible interface server and the WsgiToAsgiAdapter (see docs/interface-server.md).

``Config`` is importable without Twisted; ``Server`` (which needs Twisted) is loaded on first use.
"""

from __future__ import annotations

from typing import Any

from .config import Config, build_endpoints
from .errors import InterfaceServerError, ProtocolError, ReplyError, WebSocketProtocolError

__all__ = [
    "Config",
    "InterfaceServerError",
    "ProtocolError",
    "ReplyError",
    "Server",
    "WebSocketProtocolError",
    "build_endpoints",
]


def __getattr__(name: str) -> Any:
    if name == "Server":
        from .server import Server

        return Server
    raise AttributeError(f"module 'interfaceserver' has no attribute {name!r}")
