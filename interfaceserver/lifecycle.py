"""Lifecycles of an HTTP exchange and of a WebSocket, as enums and one transition table each.

Theory of operation
-------------------
An HTTP exchange starts when a request head has been parsed:

    READING_BODY --SEND--> AWAITING_RESPONSE --RESPOND--> RESPONDING --FINISH--> COMPLETE
         \\--STREAM--> STREAMING_BODY --BODY_DONE--> AWAITING_RESPONSE
    (an application may answer before the body is all in: STREAMING_BODY --RESPOND--> ...)

``RESPOND`` with a complete response goes straight to COMPLETE (``RESPOND_ALL``). ``FAIL`` (timeout
503, client gone, layer error) moves any live state to FAILED. A WebSocket:

    HANDSHAKE --ACCEPT--> OPEN --CLOSE--> CLOSING --CLOSED--> CLOSED
    HANDSHAKE --REJECT--> CLOSED;  OPEN/CLOSING/HANDSHAKE --LOST--> CLOSED

:func:`advance` returns the next state or raises :class:`IllegalTransition` (a bug in the caller,
never the peer's fault: peers' mistakes are ProtocolErrors found before any transition).

:class:`WsAction` names what one application reply asks of a WebSocket (accept, reject, send text
or bytes, close); its members are strings, so they print and compare as the words they stand for.
"""

from __future__ import annotations

import enum
from typing import TypeVar, cast, overload

__all__ = ["LIVE_HTTP", "HttpEvent", "HttpState", "IllegalTransition", "WsAction", "WsEvent", "WsState", "advance"]


S = TypeVar("S", bound=enum.Enum)


class _Singletons(enum.Enum):
    """Members hashed by identity (C speed): Enum's own hash is a Python call, twice per advance()."""

    __hash__ = object.__hash__


class HttpState(_Singletons):
    READING_BODY = "reading-body"
    STREAMING_BODY = "streaming-body"
    AWAITING_RESPONSE = "awaiting-response"
    RESPONDING = "responding"
    COMPLETE = "complete"
    FAILED = "failed"


class HttpEvent(_Singletons):
    SEND = "send"
    STREAM = "stream"
    BODY_DONE = "body_done"
    RESPOND = "respond"
    RESPOND_ALL = "respond_all"
    FINISH = "finish"
    FAIL = "fail"


class WsState(_Singletons):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class WsEvent(_Singletons):
    ACCEPT = "accept"
    REJECT = "reject"
    CLOSE = "close"
    CLOSED = "closed"
    LOST = "lost"


class WsAction(str, enum.Enum):
    """One step of a WebSocket reply: ``(ACCEPT|REJECT, None)``, ``(TEXT, str)``, ``(BYTES, bytes)``, ``(CLOSE, code)``."""

    ACCEPT = "accept"
    REJECT = "reject"
    TEXT = "text"
    BYTES = "bytes"
    CLOSE = "close"


class IllegalTransition(RuntimeError):
    """An event that the current state does not allow."""


_H, _HE = HttpState, HttpEvent
_W, _WE = WsState, WsEvent

#: The states in which an exchange still answers: any of them may FAIL.
LIVE_HTTP = (_H.READING_BODY, _H.STREAMING_BODY, _H.AWAITING_RESPONSE, _H.RESPONDING)

_TABLE: dict[tuple[enum.Enum, enum.Enum], enum.Enum] = {
    (_H.READING_BODY, _HE.SEND): _H.AWAITING_RESPONSE,
    (_H.READING_BODY, _HE.STREAM): _H.STREAMING_BODY,
    (_H.STREAMING_BODY, _HE.BODY_DONE): _H.AWAITING_RESPONSE,
    (_H.STREAMING_BODY, _HE.RESPOND): _H.RESPONDING,
    (_H.STREAMING_BODY, _HE.RESPOND_ALL): _H.COMPLETE,
    (_H.AWAITING_RESPONSE, _HE.RESPOND): _H.RESPONDING,
    (_H.AWAITING_RESPONSE, _HE.RESPOND_ALL): _H.COMPLETE,
    (_H.RESPONDING, _HE.FINISH): _H.COMPLETE,
    **{(state, _HE.FAIL): _H.FAILED for state in LIVE_HTTP},
    (_W.HANDSHAKE, _WE.ACCEPT): _W.OPEN,
    (_W.HANDSHAKE, _WE.REJECT): _W.CLOSED,
    (_W.OPEN, _WE.CLOSE): _W.CLOSING,
    (_W.OPEN, _WE.CLOSED): _W.CLOSED,
    (_W.CLOSING, _WE.CLOSED): _W.CLOSED,
    **{(state, _WE.LOST): _W.CLOSED for state in (_W.HANDSHAKE, _W.OPEN, _W.CLOSING)},
}


@overload
def advance(state: HttpState, event: HttpEvent) -> HttpState: ...
@overload
def advance(state: WsState, event: WsEvent) -> WsState: ...
def advance(state: S, event: enum.Enum) -> S:
    """The state after ``event`` in ``state``; IllegalTransition if the table has no such move."""
    try:
        return cast(S, _TABLE[(state, event)])
    except KeyError:
        raise IllegalTransition(f"{event} is not allowed in state {state.name}") from None
