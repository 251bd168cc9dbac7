"""The process-wide request-body budget: partial uploads take from it, refusals get 503, leaving gives it back."""

from __future__ import annotations

import logging

from interfaceserver.bodybudget import BodyBudget
from tests.unit.test_is_connection import Harness


def _upload(h, declared: int, sent: bytes):
    conn, transport = h.connect()
    conn.dataReceived(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % declared + sent)
    return conn, transport


def test_partial_bodies_are_counted_and_refused_past_the_budget(caplog):
    """Stalled partial bodies count against max_buffered_body; the upload that does not fit gets 503, once logged."""
    h = Harness(max_buffered_body=10_000)
    budget = h.ctx.body_budget
    first, _ = _upload(h, 6000, b"a" * 4000)
    second, _ = _upload(h, 6000, b"b" * 4000)
    assert budget.held == 8000
    with caplog.at_level(logging.WARNING, "interfaceserver"):
        third, transport = _upload(h, 6000, b"c" * 4000)
        fourth, transport4 = _upload(h, 6000, b"d" * 4000)
    assert transport.value().startswith(b"HTTP/1.1 503 Service Unavailable") and transport.disconnecting
    assert b"Retry-After: 1\r\n" in transport.value()
    assert b"too many request bodies in memory" in transport.value()
    assert transport4.value().startswith(b"HTTP/1.1 503 Service Unavailable")
    assert budget.held == 8000  # the refused pieces were never held
    assert len([r for r in caplog.records if "reached the budget" in r.getMessage()]) == 1
    first.connectionLost(None)
    second.connectionLost(None)
    assert budget.held == 0


def test_a_complete_body_is_given_back_when_sent():
    """Once a whole body is handed to the layer it no longer counts; the next upload fits again."""
    h = Harness(max_buffered_body=10_000)
    conn, transport = _upload(h, 6000, b"a" * 6000)
    assert h.next("http.request")["body"] == b"a" * 6000
    assert h.ctx.body_budget.held == 0
    _upload(h, 9000, b"b" * 9000)
    assert h.next("http.request")["body"] == b"b" * 9000


def test_a_streamed_body_holds_at_most_about_one_chunk():
    """A body over body_stream_threshold is held a chunk at a time, and given back entirely at its end."""
    h = Harness(max_buffered_body=5000, body_stream_threshold=1000)
    conn, transport = _upload(h, 4000, b"")
    for index in range(4):
        conn.dataReceived(bytes([65 + index]) * 1000)
        assert h.ctx.body_budget.held <= 2000
    message = h.next("http.request")
    assert message["body_channel"] and h.ctx.body_budget.held == 0


def test_an_answered_request_gives_its_body_back():
    """A request answered (and closed) while its body still arrives holds nothing afterwards."""
    h = Harness(max_buffered_body=10_000, http_timeout=5)
    conn, transport = _upload(h, 6000, b"a" * 3000)
    h.advance(6)  # http_timeout: 408 for a body that does not arrive
    assert transport.value().startswith(b"HTTP/1.1 408")
    assert h.ctx.body_budget.held == 0


def test_emptying_after_a_high_point_schedules_one_trim(caplog):
    """Back at 0 after a peak of 1 MiB or more, one trim runs a second later (and the peak is forgotten)."""
    h = Harness()
    budget = BodyBudget(2 * 1024 * 1024, h.clock)
    assert budget.take(1024 * 1024)
    budget.give(1024 * 1024)
    assert budget.trim_call is not None and budget.held == 0
    with caplog.at_level(logging.DEBUG, "interfaceserver"):
        h.clock.advance(1.1)
    assert budget.trim_call is None and budget.peak == 0
    assert [r.getMessage() for r in caplog.records] == [
        "Request bodies held in memory back to 0 (peak 1048576 bytes); returning free memory"
    ]
    assert budget.take(1000)
    budget.give(1000)
    assert budget.trim_call is None  # a small peak is not worth a trim


def test_each_episode_of_refusals_is_logged_once(caplog):
    """A warning when refusals start and an info line when the total is back to half the budget; then the
    next episode is logged again (a busy server need not ever reach 0)."""
    h = Harness()
    budget = BodyBudget(1000, h.clock)
    with caplog.at_level(logging.INFO, "interfaceserver"):
        for _ in range(2):
            assert budget.take(900)
            assert not budget.take(200) and not budget.take(300)
            budget.give(300)  # 600 held: still over half
            budget.give(200)  # 400 held: the episode ends
            budget.give(400)
    assert [r.getMessage() for r in caplog.records] == [
        "Request bodies held in memory reached the budget (900 + 200 > 1000 bytes); answering 503 until it frees",
        "Request bodies held in memory down to 400 of 1000 bytes (peak 900; 2 refused with 503)",
    ] * 2
