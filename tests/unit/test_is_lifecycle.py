"""The HTTP exchange and WebSocket lifecycles: legal moves and the error on illegal ones."""

from __future__ import annotations

import pytest

from interfaceserver.lifecycle import HttpState, IllegalTransition, WsState, advance


def test_http_happy_paths():
    """Buffered and streamed requests both reach COMPLETE through their documented states."""
    state = advance(HttpState.READING_BODY, "send")
    assert advance(advance(state, "respond"), "finish") is HttpState.COMPLETE
    state = advance(advance(HttpState.READING_BODY, "stream"), "body_done")
    assert advance(state, "respond_all") is HttpState.COMPLETE
    assert advance(HttpState.STREAMING_BODY, "respond") is HttpState.RESPONDING


def test_http_illegal_moves_raise():
    """A second response start, or anything after COMPLETE, is an IllegalTransition."""
    with pytest.raises(IllegalTransition, match="'respond' is not allowed in state RESPONDING"):
        advance(HttpState.RESPONDING, "respond")
    with pytest.raises(IllegalTransition):
        advance(HttpState.COMPLETE, "fail")
    with pytest.raises(IllegalTransition):
        advance(HttpState.READING_BODY, "respond")


def test_websocket_moves():
    """HANDSHAKE -> OPEN -> CLOSING -> CLOSED, reject and lost; nothing leaves CLOSED."""
    assert advance(WsState.HANDSHAKE, "reject") is WsState.CLOSED
    assert advance(advance(advance(WsState.HANDSHAKE, "accept"), "close"), "closed") is WsState.CLOSED
    assert advance(WsState.OPEN, "lost") is WsState.CLOSED
    with pytest.raises(IllegalTransition):
        advance(WsState.CLOSED, "lost")
    with pytest.raises(IllegalTransition):
        advance(WsState.OPEN, "accept")
