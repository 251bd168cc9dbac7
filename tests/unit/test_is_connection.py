"""Connections driven byte by byte on StringTransport with a fake clock and an in-memory layer (no sleeps)."""

from __future__ import annotations

import io
import logging

import pytest
from twisted.internet.defer import fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from channellayer import BackendUnavailable, ChannelFull, MemoryChannelLayer
from interfaceserver.accesslog import AccessLog
from interfaceserver.config import Config
from interfaceserver.connection import Connection
from interfaceserver.context import Context

KEY_HEADERS = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


class SyncIO:
    """Layer I/O for tests: sends go straight into a MemoryChannelLayer and the Deferreds fire at once."""

    def __init__(self, layer, down=False):
        self.layer = layer
        self.down = down
        self.paused = []

    def send(self, channel, message):
        if self.down:
            return fail(BackendUnavailable("Redis at test failed"))
        try:
            self.layer.send(channel, message)
        except ChannelFull:
            return succeed(False)
        return succeed(True)

    def new_channel(self, pattern):
        return succeed(self.layer.new_channel(pattern))

    def pause(self, channel, paused):
        self.paused.append((channel, paused))
        return succeed(None)


class Harness:
    def __init__(self, capacity=100, down=False, **options):
        self.layer = MemoryChannelLayer(capacity=capacity)
        self.clock = Clock()
        self.log = io.StringIO()
        self.io = SyncIO(self.layer, down)
        self.ctx = Context(
            Config(channel_layer="x:y", **options),
            self.clock,
            self.io,
            group_expiry=86400,
            access_log=AccessLog(self.log),
        )

    def connect(self):
        conn = Connection(self.ctx)
        transport = StringTransport()
        conn.makeConnection(transport)
        return conn, transport

    def next(self, channel):
        name, message = self.layer.receive([channel])
        assert message is not None, f"nothing on {channel}"
        return message

    def empty(self, channel):
        return self.layer.receive([channel]) == (None, None)

    def advance(self, seconds, step=0.5):
        for _ in range(int(seconds / step)):
            self.clock.advance(step)


def ws_frame(opcode, payload, mask=b"\x01\x02\x03\x04"):
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def open_websocket(h, path=b"/ws"):
    conn, transport = h.connect()
    conn.dataReceived(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    connect = h.next("websocket.connect")
    return conn, transport, connect


def test_get_round_trip_and_keep_alive():
    """A GET becomes http.request; the reply is written; the connection then serves a second request."""
    h = Harness()
    conn, transport = h.connect()
    conn.dataReceived(b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    message = h.next("http.request")
    assert message["path"] == "/a b" and message["query_string"] == b"x=1"
    assert message["client"] == ["192.168.1.1", 54321] and message["server"] == ["10.0.0.1", 12345]
    assert message["reply_channel"].startswith(h.ctx.prefix)
    h.ctx.dispatch(message["reply_channel"], {"status": 200, "content": b"hi"})
    assert transport.value().startswith(b"HTTP/1.1 200 OK\r\n") and transport.value().endswith(b"\r\n\r\nhi")
    assert not transport.disconnecting
    transport.clear()
    conn.dataReceived(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
    assert h.next("http.request")["path"] == "/second"
    assert '"GET /a%20b?x=1" 200 2' in h.log.getvalue()


def test_http_timeout_503_and_streaming_regression():
    """http_timeout gives 503 to an unanswered request, while a streaming response that outlives it goes on."""
    h = Harness(http_timeout=5)
    streaming, streaming_transport = h.connect()
    streaming.dataReceived(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    stream_reply = h.next("http.request")["reply_channel"]
    h.ctx.dispatch(stream_reply, {"status": 200, "content": b"a", "more_content": True})
    waiting, waiting_transport = h.connect()
    h.advance(3)
    waiting.dataReceived(b"GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
    h.advance(4)  # the stream is now 7 s old: past the timeout, and must be left alone
    h.ctx.dispatch(stream_reply, {"content": b"b", "more_content": True})
    assert b"503" not in streaming_transport.value()
    h.advance(3)  # the waiting request is 7 s old: the timeout still fires after the stream passed it
    assert waiting_transport.value().startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"Worker server failed to respond within time limit." in waiting_transport.value()
    h.ctx.dispatch(stream_reply, {"content": b"c"})
    assert streaming_transport.value().endswith(b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n")


def test_header_timeout():
    """A partial head gets 408 after header_timeout; an idle connection is closed without a response."""
    h = Harness(header_timeout=3)
    partial, partial_transport = h.connect()
    idle, idle_transport = h.connect()
    partial.dataReceived(b"GET / HTTP/1.1\r\nHost")
    h.advance(4)
    assert partial_transport.value().startswith(b"HTTP/1.1 408 Request Time-out")
    assert partial_transport.disconnecting
    assert idle_transport.value() == b"" and idle_transport.disconnecting


def test_channel_full_and_layer_down_give_503_with_retry_after():
    """ChannelFull on http.request answers 503 'Request queue full.'; a layer error answers 503 too."""
    h = Harness(capacity=1)
    first, _ = h.connect()
    first.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    second, transport = h.connect()
    second.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"Retry-After: 1\r\n" in transport.value() and b"Request queue full." in transport.value()
    down = Harness(down=True)
    conn, transport = down.connect()
    conn.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 503") and b"Channel layer unavailable." in transport.value()


def test_large_body_streamed_over_body_channel():
    """A body above the threshold goes as http.request (first part + body_channel) and ordered chunks."""
    h = Harness(body_stream_threshold=10)
    conn, transport = h.connect()
    body = bytes(range(35))
    conn.dataReceived(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\n" + body[:12])
    conn.dataReceived(body[12:])
    message = h.next("http.request")
    assert message["body"] == body[:10] and message["body_channel"].startswith("http.request.body?")
    received, more = message["body"], True
    while more:
        chunk = h.next(message["body_channel"])
        assert chunk["closed"] is False
        received += chunk["content"]
        more = chunk["more_content"]
    assert received == body
    assert transport.producerState == "producing"


def test_small_body_sent_whole():
    """A body at or below the threshold is sent in the http.request itself, without body_channel."""
    h = Harness(body_stream_threshold=10)
    conn, _ = h.connect()
    conn.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
    message = h.next("http.request")
    assert message["body"] == b"0123456789" and "body_channel" not in message


def test_expect_continue():
    """Expect: 100-continue with a body gets an interim 100 before the body is read."""
    h = Harness()
    conn, transport = h.connect()
    conn.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert transport.value() == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_slow_reader_is_dropped_past_the_write_buffer_limit():
    """While the transport says the client is not reading, more than write_buffer_limit bytes aborts it."""
    h = Harness(write_buffer_limit=300)
    conn, transport = h.connect()
    conn.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = h.next("http.request")["reply_channel"]
    conn.pauseProducing()
    h.ctx.dispatch(reply, {"status": 200, "content": b"x" * 50, "more_content": True})
    assert not transport.disconnecting
    h.ctx.dispatch(reply, {"content": b"x" * 300, "more_content": True})
    assert transport.disconnecting
    conn.connectionLost(None)
    assert h.next("http.disconnect")["reply_channel"] == reply


def test_stream_to_a_client_that_stops_reading_is_paused_then_resumed():
    """Past 1 MiB waiting for a non-reading client the stream is paused (once); resuming or finishing clears it."""
    h = Harness()
    conn, transport = h.connect()
    conn.dataReceived(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = h.next("http.request")["reply_channel"]
    h.ctx.dispatch(reply, {"status": 200, "content": b"x" * 1000, "more_content": True})
    conn.pauseProducing()
    h.ctx.dispatch(reply, {"content": b"x" * (512 * 1024), "more_content": True})
    assert h.io.paused == []
    for _ in range(3):
        h.ctx.dispatch(reply, {"content": b"x" * (512 * 1024), "more_content": True})
    assert h.io.paused == [(reply, True)]
    conn.resumeProducing()
    assert h.io.paused == [(reply, True), (reply, False)]
    conn.pauseProducing()
    for _ in range(3):
        h.ctx.dispatch(reply, {"content": b"x" * (512 * 1024), "more_content": True})
    h.ctx.dispatch(reply, {"content": b"", "more_content": False})
    assert h.io.paused == [(reply, True), (reply, False), (reply, True), (reply, False)]
    assert not transport.disconnecting


def test_websocket_connect_waits_for_room_then_goes_through():
    """A handshake that finds websocket.connect full retries, and is sent (and accepted) once a worker makes room."""
    h = Harness(capacity=1)
    h.layer.send("websocket.connect", {"filler": True})
    conn, transport = h.connect()
    conn.dataReceived(b"GET /ws/burst HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    h.advance(0.5, step=0.05)
    assert h.next("websocket.connect") == {"filler": True}  # a worker takes the message ahead of it
    h.advance(1.0, step=0.05)
    connect = h.next("websocket.connect")
    assert connect["path"] == "/ws/burst" and connect["order"] == 0
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    assert transport.value().startswith(b"HTTP/1.1 101 Switching Protocols")


def test_client_gone_sends_http_disconnect():
    """A client that leaves before its response gets an http.disconnect with its reply channel and path."""
    h = Harness()
    conn, _ = h.connect()
    conn.dataReceived(b"GET /left HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = h.next("http.request")["reply_channel"]
    conn.connectionLost(None)
    assert h.next("http.disconnect") == {"reply_channel": reply, "path": "/left"}
    assert h.ctx.replies == {}


def test_bad_request_then_closed():
    """A malformed request gets its status and the connection is closed."""
    h = Harness()
    conn, transport = h.connect()
    conn.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 400 Bad Request") and transport.disconnecting


def test_websocket_accept_echo_and_disconnect():
    """Connect waits for accept; frames become websocket.receive with order; close reports code and order."""
    h = Harness(ws_protocols=("chat",))
    conn, transport = h.connect()
    conn.dataReceived(
        b"GET /ws/room?x=1 HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: other, chat\r\n"
        + KEY_HEADERS
        + b"\r\n"
        + ws_frame(0x1, b"early")
    )
    connect = h.next("websocket.connect")
    assert connect["order"] == 0 and connect["path"] == "/ws/room" and connect["query_string"] == b"x=1"
    assert transport.value() == b""
    reply = connect["reply_channel"]
    h.ctx.dispatch(reply, {"accept": True})
    assert transport.value().startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Protocol: chat\r\n" in transport.value()
    assert h.next("websocket.receive") == {"reply_channel": reply, "path": "/ws/room", "order": 1, "text": "early"}
    conn.dataReceived(ws_frame(0x2, b"\x00\x01"))
    assert h.next("websocket.receive")["bytes"] == b"\x00\x01"
    transport.clear()
    h.ctx.dispatch(reply, {"text": "out"})
    assert transport.value() == b"\x81\x03out"
    conn.dataReceived(ws_frame(0x8, b"\x0f\xa0"))
    assert transport.value().endswith(b"\x88\x02\x0f\xa0") and transport.disconnecting
    conn.connectionLost(None)
    assert h.next("websocket.disconnect") == {"reply_channel": reply, "code": 4000, "path": "/ws/room", "order": 3}
    assert "WSCONNECTING /ws/room" in h.log.getvalue() and "WSDISCONNECT /ws/room" in h.log.getvalue()


def test_websocket_reject_and_connect_timeout():
    """accept: False answers 403; an application that never answers gets 403 after the connect timeout."""
    h = Harness(websocket_connect_timeout=2, websocket_handshake_timeout=-1)
    conn, transport, connect = open_websocket(h)
    h.ctx.dispatch(connect["reply_channel"], {"accept": False})
    assert transport.value() == b"HTTP/1.1 403 Access denied\r\n\r\n" and transport.disconnecting
    conn.connectionLost(None)
    assert h.next("websocket.disconnect")["code"] == 1006
    conn, transport, connect = open_websocket(h)
    h.advance(3)
    assert transport.value() == b"HTTP/1.1 403 Access denied\r\n\r\n" and transport.disconnecting


def test_websocket_connect_full_and_layer_down_are_refused_with_503():
    """A websocket.connect channel that stays full refuses the handshake after the 3 s queue wait, with Daphne's
    status line plus Retry-After; a layer that is down is refused at once, saying so."""
    h = Harness(capacity=1)
    open_websocket(h)
    h.layer.send("websocket.connect", {"filler": True})
    conn, transport = h.connect()
    conn.dataReceived(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    h.advance(2.5, step=0.05)
    assert transport.value() == b"", "still waiting for room on websocket.connect"
    h.advance(1.0, step=0.05)
    assert transport.value() == b"HTTP/1.1 503 Connection queue at capacity\r\nRetry-After: 1\r\n\r\n"
    assert transport.disconnecting
    down = Harness(down=True)
    conn, transport = down.connect()
    conn.dataReceived(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    assert transport.value() == b"HTTP/1.1 503 Channel layer unavailable\r\nRetry-After: 1\r\n\r\n"


def test_connect_timeout_minus_one_never_rejects():
    """--websocket_connect_timeout -1 means no limit (the Daphne 1.4.2 bug rejected every socket)."""
    h = Harness(websocket_connect_timeout=-1, websocket_handshake_timeout=-1)
    conn, transport, connect = open_websocket(h)
    h.advance(60, step=5)
    assert transport.value() == b""
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    assert transport.value().startswith(b"HTTP/1.1 101")


def test_ping_and_ping_timeout():
    """A silent socket is pinged after ping_interval and dropped when no pong comes within ping_timeout."""
    h = Harness(ping_interval=4, ping_timeout=4)
    conn, transport, connect = open_websocket(h)
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    transport.clear()
    h.advance(6)
    assert transport.value() == b"\x89\x00"
    conn.dataReceived(ws_frame(0xA, b""))  # pong
    h.advance(6)
    assert transport.value() == b"\x89\x00\x89\x00" and not transport.disconnecting
    h.advance(6)
    assert transport.disconnecting


def test_traffic_postpones_the_ping_and_close_wait_is_bounded():
    """A socket with traffic is not pinged while an idle one is; a close the peer never answers is
    dropped about 5 s later."""
    h = Harness(ping_interval=4, ping_timeout=4)
    busy, busy_transport, connect = open_websocket(h)
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    idle, idle_transport, connect_idle = open_websocket(h)
    h.ctx.dispatch(connect_idle["reply_channel"], {"accept": True})
    busy_transport.clear()
    idle_transport.clear()
    for _ in range(6):
        h.advance(1)
        busy.dataReceived(ws_frame(0x1, b"hi"))
    assert b"\x89\x00" not in busy_transport.value() and idle_transport.value() == b"\x89\x00"
    busy_transport.clear()
    h.ctx.dispatch(connect["reply_channel"], {"close": True})
    assert busy_transport.value().startswith(b"\x88") and not busy_transport.disconnecting
    h.advance(4)
    assert not busy_transport.disconnecting
    h.advance(4)
    assert busy_transport.disconnecting


def test_websocket_timeout_closes_1000():
    """websocket_timeout closes an open socket with 1000."""
    h = Harness(websocket_timeout=3, ping_interval=100, ping_timeout=100)
    conn, transport, connect = open_websocket(h)
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    transport.clear()
    h.advance(30, step=1)
    assert transport.value().startswith(b"\x88\x02\x03\xe8")


@pytest.mark.parametrize(("capacity", "code"), [(1, b"\x03\xf5")])
def test_full_receive_channel_closes_1013(capacity, code):
    """ChannelFull on websocket.receive closes with 1013 and mutes the socket (no disconnect sent)."""
    h = Harness(capacity=capacity)
    conn, transport, connect = open_websocket(h)
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    conn.dataReceived(ws_frame(0x1, b"one") + ws_frame(0x1, b"two"))
    assert b"\x88" in transport.value() and transport.value().split(b"\x88", 1)[1][1:3] == code
    conn.connectionLost(None)
    assert h.next("websocket.receive")["text"] == "one"
    assert h.empty("websocket.disconnect")


def test_full_connect_channel_wait_follows_a_short_connect_timeout():
    """With a 1 s connect timeout a full websocket.connect waits 0.6 s (60 %), then 503 — before the timeout's 403."""
    h = Harness(capacity=1, websocket_connect_timeout=1)
    open_websocket(h)
    conn, transport = h.connect()
    h.layer.send("websocket.connect", {"filler": True})
    conn.dataReceived(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    h.advance(0.4, step=0.05)
    assert transport.value() == b""
    h.advance(0.4, step=0.05)
    assert transport.value().startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in transport.value()


def test_protocol_error_closes_1002():
    """An unmasked client frame closes the socket with 1002."""
    h = Harness()
    conn, transport, connect = open_websocket(h)
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    transport.clear()
    conn.dataReceived(b"\x81\x02hi")
    assert transport.value().startswith(b"\x88") and transport.value()[2:4] == b"\x03\xea"
    assert transport.disconnecting


def test_failed_connection_reports_its_own_code():
    """Invalid UTF-8 closes with 1007; a close frame from the client arriving before the TCP connection
    is gone is not read, so websocket.disconnect reports 1007, not the client's 1000."""
    h = Harness()
    conn, transport, connect = open_websocket(h)
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    transport.clear()
    conn.dataReceived(ws_frame(0x1, b"\xff\xfe"))
    assert transport.value() == b"\x88\x1f\x03\xefInvalid UTF-8 in text message" and transport.disconnecting
    conn.dataReceived(ws_frame(0x8, b"\x03\xe8"))
    conn.connectionLost(None)
    assert h.empty("websocket.receive")
    assert h.next("websocket.disconnect")["code"] == 1007


def test_going_away_closes_1001_and_reports():
    """Graceful stop closes open sockets with 1001 and sends their websocket.disconnect at once."""
    h = Harness()
    conn, transport, connect = open_websocket(h)
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    transport.clear()
    conn.going_away()
    assert transport.value().startswith(b"\x88") and transport.value()[2:4] == b"\x03\xe9"
    assert h.next("websocket.disconnect")["code"] == 1001
    conn.connectionLost(None)
    assert h.empty("websocket.disconnect")


def test_idle_websockets_share_one_timer():
    """However many sockets are open, the process has one ping timer (idle CPU stays near zero)."""
    h = Harness()
    for _ in range(50):
        conn, transport, connect = open_websocket(h)
        h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    h.advance(2)
    assert len(h.clock.getDelayedCalls()) == 1


def test_no_timer_without_connections():
    """A server with nothing to check has no timer armed at all."""
    h = Harness()
    conn, transport = h.connect()
    conn.connectionLost(None)
    h.advance(3)
    assert h.clock.getDelayedCalls() == []


def test_handshake_timeout_drops_the_socket():
    """With no connect limit, --websocket_handshake_timeout drops a socket still not accepted (disconnect 1006)."""
    h = Harness(websocket_connect_timeout=-1, websocket_handshake_timeout=2)
    conn, transport, connect = open_websocket(h)
    h.advance(3)
    assert transport.value() == b"" and transport.disconnecting
    conn.connectionLost(None)
    message = h.next("websocket.disconnect")
    assert message["code"] == 1006 and message["order"] == 1


def test_pipelined_bytes_beyond_the_limit_pause_reading():
    """More than 64 KiB queued behind a request in progress pauses reading from the client."""
    h = Harness()
    conn, transport = h.connect()
    conn.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70000)
    assert transport.producerState == "paused"
    reply = h.next("http.request")["reply_channel"]
    h.ctx.dispatch(reply, {"status": 200})
    assert transport.producerState == "producing"


def test_full_body_channel_is_retried_with_the_client_paused():
    """A chunk that meets ChannelFull is retried later, in order, while reading from the client is paused."""
    h = Harness(capacity=1, body_stream_threshold=10)
    conn, transport = h.connect()
    body = bytes(range(40))
    conn.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n" + body)
    message = h.next("http.request")
    h.clock.advance(1)  # retries keep meeting ChannelFull: the channel holds one chunk and the client waits
    assert h.layer.channel_statistics(message["body_channel"])["messages_pending"] == 1
    assert transport.producerState == "paused"
    received = message["body"]
    for _ in range(10):
        name, chunk = h.layer.receive([message["body_channel"]])
        received += chunk["content"]
        if not chunk["more_content"]:
            break
        h.clock.advance(1)
    assert received == body
    assert transport.producerState == "producing"


def test_websocket_timeout_defaults_to_group_expiry():
    """Without --websocket_timeout a socket lives for the layer's group_expiry; -1 means forever."""
    h = Harness()
    assert Context(h.ctx.config, h.clock, h.io, group_expiry=120).websocket_timeout == 120
    forever = Config(channel_layer="x:y", websocket_timeout=-1)
    assert Context(forever, h.clock, h.io, group_expiry=120).websocket_timeout is None


def test_head_response_has_no_body_and_no_invented_length():
    """A HEAD reply writes headers only, keeps the app's Content-Length, invents none, and stays keep-alive."""
    h = Harness()
    conn, transport = h.connect()
    conn.dataReceived(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = h.next("http.request")["reply_channel"]
    h.ctx.dispatch(reply, {"status": 200, "headers": [(b"Content-Length", b"5")], "content": b"hello"})
    assert transport.value().endswith(b"\r\n\r\n") and b"Content-Length: 5\r\n" in transport.value()
    transport.clear()
    conn.dataReceived(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
    h.ctx.dispatch(h.next("http.request")["reply_channel"], {"status": 200, "content": b""})
    assert b"Content-Length" not in transport.value() and b"Transfer-Encoding" not in transport.value()
    assert not transport.disconnecting


def test_empty_text_frames_both_ways():
    """An empty text frame from the client reaches the application, and {"text": ""} sends an empty text frame."""
    h = Harness()
    conn, transport, connect = open_websocket(h)
    reply = connect["reply_channel"]
    h.ctx.dispatch(reply, {"accept": True})
    transport.clear()
    conn.dataReceived(ws_frame(0x1, b""))
    message = h.next("websocket.receive")
    assert message["text"] == "" and message["order"] == 1
    h.ctx.dispatch(reply, {"text": ""})
    assert transport.value() == b"\x81\x00"


def test_layer_trouble_is_logged_once_per_episode(caplog):
    """Outage warnings hitting every request are logged once per 10 s, the next line counting what was left out."""
    h = Harness(down=True)
    with caplog.at_level(logging.WARNING, "interfaceserver"):
        for _ in range(5):
            conn, _ = h.connect()
            conn.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        h.clock.advance(11)
        conn, _ = h.connect()
        conn.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records if "Channel layer unavailable" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[1].endswith("(4 more like this in the last 10 s)")


def _retry_delays(clock, method_name, rounds):
    """The delays of successive retries scheduled by ``method_name``, running each in turn."""
    delays = []
    for _ in range(rounds):
        calls = [c for c in clock.getDelayedCalls() if getattr(c.func, "__name__", "") == method_name]
        if not calls:
            break
        (call,) = calls
        delays.append(round(call.getTime() - clock.seconds(), 6))
        clock.advance(delays[-1])
    return delays


def test_full_body_channel_retry_schedule():
    """A chunk meeting ChannelFull is retried after 50 ms, doubling to at most 1 s, for as long as it stays full."""
    h = Harness(capacity=1, body_stream_threshold=10)
    conn, _ = h.connect()
    conn.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n" + bytes(40))
    h.next("http.request")
    assert _retry_delays(h.clock, "_send_chunk", 8) == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


def test_full_connect_channel_retry_schedule():
    """websocket.connect meeting ChannelFull is retried from 50 ms doubling to 0.5 s, cut at 3 s, then 503."""
    h = Harness(capacity=1)
    h.layer.send("websocket.connect", {"filler": True})
    conn, transport = h.connect()
    conn.dataReceived(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    assert _retry_delays(h.clock, "_resend_connect", 20) == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5, 0.5, 0.25]
    assert transport.value().startswith(b"HTTP/1.1 503 ")


def test_drain_serves_the_first_request_of_a_connection_accepted_just_before():
    """A connection accepted before the stop whose request arrives after it is served (Connection: close)."""
    h = Harness()
    conn, transport = h.connect()
    h.ctx.draining = True
    conn.going_away()
    assert not transport.disconnecting
    conn.dataReceived(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
    message = h.next("http.request")
    assert message["path"] == "/late"
    h.ctx.dispatch(message["reply_channel"], {"status": 200, "content": b"ok"})
    assert transport.value().startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close" in transport.value() or b"connection: close" in transport.value().lower()
    assert transport.disconnecting


def test_drain_finishes_a_head_that_was_arriving():
    """A connection in the middle of sending its request head when the stop comes still gets its answer."""
    h = Harness()
    conn, transport = h.connect()
    conn.dataReceived(b"GET /half HTTP/1.1\r\nHo")
    h.ctx.draining = True
    conn.going_away()
    assert not transport.disconnecting
    conn.dataReceived(b"st: x\r\n\r\n")
    assert h.next("http.request")["path"] == "/half"


def test_drain_closes_a_silent_new_connection_after_the_grace_and_idle_keepalive_at_once():
    """A new connection that sends nothing is closed within ~1-2 s of the stop; an idle keep-alive one at once."""
    h = Harness()
    silent, silent_transport = h.connect()
    idle, idle_transport = h.connect()
    idle.dataReceived(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
    h.ctx.dispatch(h.next("http.request")["reply_channel"], {"status": 200, "content": b"1"})
    assert not idle_transport.disconnecting
    h.ctx.draining = True
    silent.going_away()
    idle.going_away()
    assert idle_transport.disconnecting
    assert not silent_transport.disconnecting
    h.advance(2.5)
    assert silent_transport.disconnecting
    assert silent_transport.value() == b""  # nothing was asked: no 408, just a close
