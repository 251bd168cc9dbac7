"""A worker SIGKILLed in the middle of a consumer: the others keep serving; the message is not redelivered."""

from __future__ import annotations

import signal
import threading
import time

import requests

from tests.faults.support import PROFILE, Load, fault_stack, record, summary

HTTP_TIMEOUT = 4
SLEEP = 2.5  # shorter than HTTP_TIMEOUT: a redelivered request would still be answered 200 in time


def test_worker_killed_mid_consumer(own_redis):
    """The killed worker's client gets 503 at -t (at-most-once: nobody runs it again); all other requests get 200."""
    with fault_stack(own_redis, "-t", str(HTTP_TIMEOUT), workers=3) as (stack, server, workers):
        load = Load(stack, PROFILE.http_clients, PROFILE.ws_clients).start()
        victim: dict[str, object] = {}

        def slow() -> None:
            started = time.monotonic()
            reply = requests.get(stack.url + f"/hello/?sleep={SLEEP}&name=victim", timeout=30)
            victim.update(status=reply.status_code, text=reply.text, latency=time.monotonic() - started)

        try:
            time.sleep(PROFILE.settle)
            thread = threading.Thread(target=slow)
            thread.start()
            time.sleep(0.5)
            # The worker busy in the sleeping view is the one whose pid no quick reply carries.
            with requests.Session() as session:
                free = {session.get(stack.url + "/hello/", timeout=10).json()["pid"] for _ in range(30)}
            busy = [w for w in workers if w.pid not in free]
            assert len(busy) == 1, (free, [w.pid for w in workers])
            killed_at = time.monotonic()
            busy[0].send_signal(signal.SIGKILL)
            thread.join(30)
            time.sleep(PROFILE.settle)
        finally:
            outcomes = load.stop()
        busy[0].popen.wait(5)
        stack.processes.remove(busy[0])
        assert stack.all_alive() == []

        assert victim["status"] == 503, victim
        assert "Worker server failed to respond within time limit." in str(victim["text"])
        assert HTTP_TIMEOUT - 0.5 <= float(victim["latency"]) < HTTP_TIMEOUT + 2.5  # the sweep runs once a second
        # Not redelivered: no copy is left in Redis for a worker to take later.
        client = own_redis.client()
        assert client.llen("asgi:http.request") == 0
        # The other workers served everyone else, the WebSocket clients on the killed worker included.
        bad = [o for o in outcomes if o.result not in ("200", "echo", "101")]
        assert bad == [], summary(outcomes)
        after = [o for o in outcomes if o.started > killed_at]
        assert len(after) > 10
        record(
            "worker SIGKILL mid-consumer",
            victim_status=victim["status"],
            victim_latency_s=round(float(victim["latency"]), 2),
            http_timeout_s=HTTP_TIMEOUT,
            others=summary(outcomes),
        )
