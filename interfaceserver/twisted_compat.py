"""Every use of a Twisted internal, each behind one function, checked by tests/unit/test_is_twisted_compat.py.

Two internals are worth their risk, and nothing else in the package may touch either:

* The write buffer of a plain TCP connection (``FileDescriptor._tempDataBuffer``, ``dataBuffer``,
  ``offset``): :func:`send_now` writes straight to the socket while that buffer is empty, saving
  Twisted's register-for-writability-then-send round of the event loop on every small write.
  :func:`can_send_now` tells whether a transport has that buffer; on one that does not (TLS, an
  in-memory test transport, a Twisted that renamed them) writes simply take Twisted's own path.
* HTTP/2 (``twisted.web._http2.H2Connection``), which Twisted only exposes through its own ``Site``:
  :func:`new_h2_connection` builds one that makes our requests, :func:`h2_streams_open` counts its
  streams so a draining server closes it once they are done.

Tested against Twisted 26.10.0; a Twisted that changes either fails the unit test with its version
in the message, and at run time the write shortcut switches itself off rather than break.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import twisted
from twisted.internet import tcp
from twisted.internet.interfaces import ISSLTransport

try:
    from twisted.web._http2 import H2Connection

    H2_AVAILABLE = True
except ImportError:  # the optional http2 extra (the h2 package) is missing
    H2_AVAILABLE = False

__all__ = ["H2_AVAILABLE", "TWISTED_VERSION", "can_send_now", "h2_streams_open", "new_h2_connection", "send_now"]

TWISTED_VERSION: str = twisted.__version__

_WRITE_BUFFER = ("_tempDataBuffer", "dataBuffer", "offset")


def can_send_now(transport: Any) -> bool:
    """Whether :func:`send_now` may write to ``transport``: a plain (not TLS) TCP connection with the write
    buffer it inspects."""
    return (
        isinstance(transport, tcp.Connection)
        and not ISSLTransport.providedBy(transport)
        and isinstance(getattr(transport, "socket", None), socket.socket)
        and all(hasattr(transport, name) for name in _WRITE_BUFFER)
    )


def send_now(transport: Any, data: bytes) -> bytes:
    """Send ``data`` straight to the socket while Twisted has nothing queued; return what is left to queue.

    Twisted's write() registers the socket for writability and sends on the next loop turn: two
    epoll changes and a loop iteration per write. For the small frames that dominate an idle server
    (pings, pongs, chat messages) one send() does it; order is kept because this path is only taken
    when Twisted's own buffer is empty. Only for transports :func:`can_send_now` accepts.
    """
    if (
        transport._tempDataBuffer
        or len(transport.dataBuffer) > transport.offset
        or not transport.connected
        or transport.disconnecting
    ):
        return data
    try:
        sent = transport.socket.send(data)
    except OSError:
        return data  # would block, or an error Twisted will find and report on its own path
    return data[sent:]


def new_h2_connection(reactor: Any, request_factory: Callable[[Any], Any], idle_timeout: float) -> Any:
    """An HTTP/2 protocol whose streams are requests made by ``request_factory(stream)`` (an ``http.Request``),
    closed after ``idle_timeout`` seconds without a frame. Only when :data:`H2_AVAILABLE`."""
    h2: Any = H2Connection(reactor)
    h2.requestFactory = lambda stream, queued=False: request_factory(stream)
    h2.site = None
    h2.factory = None
    h2.timeOut = idle_timeout
    return h2


def h2_streams_open(h2: Any) -> int:
    """How many streams of an HTTP/2 protocol from :func:`new_h2_connection` are not finished yet."""
    return len(h2.streams)
