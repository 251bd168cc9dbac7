"""Lifecycles of an HTTP exchange and of a WebSocket, as enums and one transition table each.

Theory of operation
-------------------
An HTTP exchange starts when a request head has been parsed:

    READING_BODY --send--> AWAITING_RESPONSE --respond--> RESPONDING --finish--> COMPLETE
         \\--stream--> STREAMING_BODY --body_done--> AWAITING_RESPONSE
    (an application may answer before the body is all in: STREAMING_BODY --respond--> ...)

``respond`` with a complete response goes straight to COMPLETE (``respond_all``). ``fail`` (timeout
503, client gone, layer error) moves any live state to FAILED. A WebSocket:

    HANDSHAKE --accept--> OPEN --close--> CLOSING --closed--> CLOSED
    HANDSHAKE --reject--> CLOSED;  OPEN/CLOSING/HANDSHAKE --lost--> CLOSED

:func:`advance` returns the next state or raises :class:`IllegalTransition` (a bug in the caller,
never the peer's fault: peers' mistakes are ProtocolErrors found before any transition).
"""

from __future__ import annotations

import enum
from typing import TypeVar, cast

__all__ = ["HttpState", "IllegalTransition", "WsState", "advance"]


S = TypeVar("S", bound=enum.Enum)


class HttpState(enum.Enum):
    READING_BODY = "reading-body"
    STREAMING_BODY = "streaming-body"
    AWAITING_RESPONSE = "awaiting-response"
    RESPONDING = "responding"
    COMPLETE = "complete"
    FAILED = "failed"


class WsState(enum.Enum):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class IllegalTransition(RuntimeError):
    """An event that the current state does not allow."""


_H = HttpState
_W = WsState
_LIVE_HTTP = (_H.READING_BODY, _H.STREAMING_BODY, _H.AWAITING_RESPONSE, _H.RESPONDING)

_TABLE: dict[tuple[enum.Enum, str], enum.Enum] = {
    (_H.READING_BODY, "send"): _H.AWAITING_RESPONSE,
    (_H.READING_BODY, "stream"): _H.STREAMING_BODY,
    (_H.STREAMING_BODY, "body_done"): _H.AWAITING_RESPONSE,
    (_H.STREAMING_BODY, "respond"): _H.RESPONDING,
    (_H.STREAMING_BODY, "respond_all"): _H.COMPLETE,
    (_H.AWAITING_RESPONSE, "respond"): _H.RESPONDING,
    (_H.AWAITING_RESPONSE, "respond_all"): _H.COMPLETE,
    (_H.RESPONDING, "chunk"): _H.RESPONDING,
    (_H.RESPONDING, "finish"): _H.COMPLETE,
    **{(state, "fail"): _H.FAILED for state in _LIVE_HTTP},
    (_W.HANDSHAKE, "accept"): _W.OPEN,
    (_W.HANDSHAKE, "reject"): _W.CLOSED,
    (_W.OPEN, "close"): _W.CLOSING,
    (_W.OPEN, "closed"): _W.CLOSED,
    (_W.CLOSING, "closed"): _W.CLOSED,
    **{(state, "lost"): _W.CLOSED for state in (_W.HANDSHAKE, _W.OPEN, _W.CLOSING)},
}


def advance(state: S, event: str) -> S:
    """The state after ``event`` in ``state``; IllegalTransition if the table has no such move."""
    try:
        return cast(S, _TABLE[(state, event)])
    except KeyError:
        raise IllegalTransition(f"{event!r} is not allowed in state {state.name}") from None
