"""Redis stopped, or frozen with SIGSTOP, under HTTP and WebSocket load: fast 503s, then full service."""

from __future__ import annotations

import time

import pytest
import requests
import websocket

from tests.faults.support import PROFILE, Load, fault_stack, record, summary, window

#: The bound the interface server promises for a request it cannot hand to the layer (LayerIO.send_timeout
#: is 0.8 s; the rest is scheduling slack on a shared machine).
FAST = 1.0
HTTP_TIMEOUT = 10


def _bad(outcomes, allowed):
    return [o for o in outcomes if not any(o.result.startswith(a) for a in allowed)]


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_redis_outage_under_load(own_redis, fault):
    """No process exits; requests during the outage get 503 (WebSockets 1011) within 1 s; after it, 100 % success."""
    with fault_stack(own_redis, "-t", str(HTTP_TIMEOUT)) as (stack, server, workers):
        pids = [p.pid for p in stack.processes]
        load = Load(stack, PROFILE.http_clients, PROFILE.ws_clients).start()
        try:
            time.sleep(PROFILE.settle)
            began = time.monotonic()
            if fault == "stopped":
                own_redis.stop()
            else:
                own_redis.pause()
            # A request sent now (not one already with a worker) must be refused within FAST.
            time.sleep(0.3)
            probe_started = time.monotonic()
            probe = requests.get(stack.url + "/hello/", timeout=HTTP_TIMEOUT + 5)
            probe_latency = time.monotonic() - probe_started
            with pytest.raises(websocket.WebSocketBadStatusException) as refused_ws:
                websocket.create_connection(stack.ws + "/echo/", timeout=HTTP_TIMEOUT + 5)
            time.sleep(max(0.0, began + PROFILE.outage - time.monotonic()))
            if fault == "stopped":
                own_redis.start()  # same port, empty: nothing persisted
            else:
                own_redis.resume()
            ended = time.monotonic()
            # Workers retry with a backoff of up to 5 s: wait until every client has been served
            # again (at most 8 s), then measure a steady window.
            deadline = ended + 8.0
            while time.monotonic() < deadline and not load.all_served_since(ended):
                time.sleep(0.1)
            steady = time.monotonic()
            time.sleep(PROFILE.settle + 0.5)
        finally:
            outcomes = load.stop()
        assert stack.all_alive() == []
        assert [p.pid for p in stack.processes] == pids  # nothing restarted

        before = [o for o in outcomes if o.started + o.latency < began]
        during = [o for o in window(outcomes, 0, ended) if o.started + o.latency >= began]
        recovering = window(outcomes, ended, steady)
        after = window(outcomes, steady, float("inf"))
        refused = [o for o in during if o.result.startswith(("503", "close"))]

        assert _bad(before, ["200", "echo", "101"]) == []
        assert probe.status_code == 503 and "Channel layer unavailable." in probe.text, probe.text
        assert probe.headers["Retry-After"] == "1"
        assert probe_latency < FAST
        assert refused_ws.value.status_code == 503
        # During the outage: either served (a frozen Redis still holds what was queued before it
        # stopped answering) or refused; never a connection error or a hang until -t.
        assert _bad(window(during, 0, ended, "http"), ["200", "503 Channel layer unavailable."]) == []
        assert _bad(window(during, 0, ended, "ws"), ["echo", "close 1011"]) == []
        assert _bad(window(during, 0, ended, "ws-connect"), ["101", "503"]) == []
        slow_refusals = [o for o in refused if o.latency >= FAST]
        assert slow_refusals == [], slow_refusals[:5]
        # Requests sent after Redis is back may wait for a worker's backoff, but all of them succeed.
        assert _bad(recovering, ["200", "echo", "101"]) == []
        assert _bad(after, ["200", "echo", "101"]) == []
        assert len(window(after, 0, float("inf"), "http")) >= PROFILE.http_clients
        assert len(window(after, 0, float("inf"), "ws")) >= PROFILE.ws_clients
        served_after = [o for o in recovering + after if o.result in ("200", "echo")]
        first_ok = min(o.started + o.latency for o in served_after) - ended
        record(
            f"redis {fault} {PROFILE.outage:g} s",
            requests=len(outcomes),
            during=summary(during),
            probe_refusal_s=round(probe_latency, 3),
            max_refusal_s=round(max([o.latency for o in refused] + [probe_latency]), 3),
            first_success_after_s=round(first_ok, 2),
            after=summary(recovering + after),
        )
