"""The interface server's exceptions: one root, and errors that carry the status or close code to use."""

from __future__ import annotations

__all__ = ["InterfaceServerError", "ProtocolError", "ReplyError", "WebSocketProtocolError"]


class InterfaceServerError(Exception):
    """Root of every exception raised by :mod:`interfaceserver`."""


class ProtocolError(InterfaceServerError):
    """The HTTP client sent something we refuse; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail


class WebSocketProtocolError(InterfaceServerError):
    """The WebSocket peer broke RFC 6455 (or a limit); ``code`` is the close code to send."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code} {detail}")
        self.code = code
        self.detail = detail


class ReplyError(InterfaceServerError, ValueError):
    """A reply message from the application is malformed (logged as Daphne's "send decode error")."""
