"""The HTTP exchange and WebSocket lifecycles: legal moves and the error on illegal ones."""

from __future__ import annotations

import pytest

from interfaceserver.lifecycle import HttpEvent, HttpState, IllegalTransition, WsAction, WsEvent, WsState, advance

H, W = HttpEvent, WsEvent


def test_http_happy_paths():
    """Buffered and streamed requests both reach COMPLETE through their documented states."""
    state = advance(HttpState.READING_BODY, H.SEND)
    assert advance(advance(state, H.RESPOND), H.FINISH) is HttpState.COMPLETE
    state = advance(advance(HttpState.READING_BODY, H.STREAM), H.BODY_DONE)
    assert advance(state, H.RESPOND_ALL) is HttpState.COMPLETE
    assert advance(HttpState.STREAMING_BODY, H.RESPOND) is HttpState.RESPONDING


def test_http_illegal_moves_raise():
    """A second response start, or anything after COMPLETE, is an IllegalTransition."""
    with pytest.raises(IllegalTransition, match="HttpEvent.RESPOND is not allowed in state RESPONDING"):
        advance(HttpState.RESPONDING, H.RESPOND)
    with pytest.raises(IllegalTransition):
        advance(HttpState.COMPLETE, H.FAIL)
    with pytest.raises(IllegalTransition):
        advance(HttpState.READING_BODY, H.RESPOND)


def test_websocket_moves():
    """HANDSHAKE -> OPEN -> CLOSING -> CLOSED, reject and lost; nothing leaves CLOSED."""
    assert advance(WsState.HANDSHAKE, W.REJECT) is WsState.CLOSED
    assert advance(advance(advance(WsState.HANDSHAKE, W.ACCEPT), W.CLOSE), W.CLOSED) is WsState.CLOSED
    assert advance(WsState.OPEN, W.LOST) is WsState.CLOSED
    with pytest.raises(IllegalTransition):
        advance(WsState.CLOSED, W.LOST)
    with pytest.raises(IllegalTransition):
        advance(WsState.OPEN, W.ACCEPT)


def test_events_are_not_strings():
    """The table takes only event members: the word an event used to be is an illegal move."""
    with pytest.raises(IllegalTransition):
        advance(HttpState.READING_BODY, "send")  # type: ignore[call-overload]
    with pytest.raises(IllegalTransition):
        advance(WsState.HANDSHAKE, HttpEvent.FAIL)  # type: ignore[call-overload]


def test_websocket_actions_read_as_their_words():
    """Reply actions compare and format as the words logs and messages.py use ("accept", "close", ...)."""
    assert WsAction("close") is WsAction.CLOSE
    assert WsAction.TEXT == "text" and f"{WsAction.BYTES.value}" == "bytes"
    assert [action.value for action in WsAction] == ["accept", "reject", "text", "bytes", "close"]
