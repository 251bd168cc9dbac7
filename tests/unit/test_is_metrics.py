"""Interface-server counters on in-memory transports: every 503 cause, status codes and the first-byte histogram."""

from __future__ import annotations

from interfaceserver.metrics import REFUSAL_CAUSES, Metrics
from tests.unit.test_is_connection import KEY_HEADERS, Harness

GET = b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"


def value(h, name, **labels):
    return h.ctx.metrics.registry.get_sample_value(name, labels) or 0.0


def refusals(h):
    return {cause: value(h, "channels_interface_refusals_total", cause=cause) for cause in REFUSAL_CAUSES}


def test_first_byte_time_and_status_code():
    """A reply 0.25 s after the head is one 200 and one observation of 0.25 s in the histogram."""
    h = Harness()
    conn, transport = h.connect()
    conn.dataReceived(GET)
    message = h.next("http.request")
    h.clock.advance(0.25)
    h.ctx.dispatch(message["reply_channel"], {"status": 200, "content": b"hi"})
    assert value(h, "channels_interface_http_responses_total", code="200") == 1
    assert value(h, "channels_interface_response_start_seconds_count") == 1
    assert value(h, "channels_interface_response_start_seconds_sum") == 0.25
    assert value(h, "channels_interface_response_start_seconds_bucket", le="0.25") == 1
    assert value(h, "channels_interface_response_start_seconds_bucket", le="0.1") == 0


def test_body_budget_refusals():
    """Uploads that do not fit the body budget are 503s of cause body_budget."""
    h = Harness(max_buffered_body=10_000)
    for piece in (b"a", b"b", b"c", b"d"):
        conn, _ = h.connect()
        conn.dataReceived(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 6000\r\n\r\n" + piece * 4000)
    assert refusals(h) == {**dict.fromkeys(REFUSAL_CAUSES, 0.0), "body_budget": 2.0}
    assert value(h, "channels_interface_http_responses_total", code="503") == 2


def test_draining_refusal():
    """A WebSocket handshake arriving while the server drains is a 503 of cause draining."""
    h = Harness()
    conn, transport = h.connect()
    h.ctx.draining = True
    conn.dataReceived(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    assert transport.value().startswith(b"HTTP/1.1 503")
    assert refusals(h)["draining"] == 1
    assert value(h, "channels_interface_http_responses_total", code="503") == 1


def test_layer_unavailable_for_http_and_websocket():
    """With the layer down, a request and a WebSocket handshake are both 503s of cause layer_unavailable."""
    h = Harness(down=True)
    conn, transport = h.connect()
    conn.dataReceived(GET)
    ws_conn, ws_transport = h.connect()
    ws_conn.dataReceived(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    assert transport.value().startswith(b"HTTP/1.1 503") and ws_transport.value().startswith(b"HTTP/1.1 503")
    assert refusals(h) == {**dict.fromkeys(REFUSAL_CAUSES, 0.0), "layer_unavailable": 2.0}


def test_full_queue_and_timeout():
    """A handshake that finds websocket.connect full (past its wait) is queue_full; an unanswered request is timeout."""
    h = Harness(capacity=1, http_timeout=2)
    first, _ = h.connect()
    first.dataReceived(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    second, transport = h.connect()
    second.dataReceived(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    waiting, waiting_transport = h.connect()
    waiting.dataReceived(GET)
    h.advance(3.5, step=0.05)  # the handshake waits up to 3 s for room before its 503
    assert transport.value().startswith(b"HTTP/1.1 503")
    assert waiting_transport.value().startswith(b"HTTP/1.1 503")
    assert refusals(h) == {**dict.fromkeys(REFUSAL_CAUSES, 0.0), "queue_full": 1.0, "timeout": 1.0}


def test_metrics_of_two_servers_do_not_mix():
    """Each Metrics has its own registry, so two servers in one process count separately."""
    one, two = Metrics(), Metrics()
    one.response(200)
    assert one.registry.get_sample_value("channels_interface_http_responses_total", {"code": "200"}) == 1
    assert two.registry.get_sample_value("channels_interface_http_responses_total", {"code": "200"}) is None
