"""Redis at maxmemory with noeviction (every write refused with OOM): clear answers, and service resumes."""

from __future__ import annotations

import time

import pytest
import redis as redis_py
import requests
import websocket

from tests.faults.support import fault_stack, record


def fill_to_oom(client: redis_py.Redis) -> int:
    """Fill Redis with ballast up to a maxmemory cap, then lower the cap below what it holds; returns the key count.

    Lowering the cap makes every write fail, not just large ones (freeing a command's query buffer
    would otherwise let small writes through again); deleting the ballast brings usage under the cap.
    """
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", used + 4 * 1024 * 1024)
    count = 0
    with pytest.raises(redis_py.exceptions.OutOfMemoryError):
        for count in range(10_000):  # noqa: B007 - the count is the result
            client.set(f"ballast:{count}", b"x" * 65536)
    client.config_set("maxmemory", used + 1024 * 1024)
    with pytest.raises(redis_py.exceptions.OutOfMemoryError):
        client.set("ballast:probe", b"x")
    return count


def test_redis_out_of_memory(own_redis):
    """OOM: HTTP gets 503 'Request queue full.', a WebSocket frame closes 1013, connect 503; all resumes after."""
    with fault_stack(own_redis, "-t", "10") as (stack, server, workers):
        ws = websocket.create_connection(stack.ws + "/echo/", timeout=10)
        ws.send("before")
        assert '"before"' in ws.recv()
        client = own_redis.client()
        ballast = fill_to_oom(client)

        started = time.monotonic()
        reply = requests.get(stack.url + "/hello/", timeout=15)
        latency = time.monotonic() - started
        assert reply.status_code == 503, reply.text
        assert "Request queue full." in reply.text and reply.headers["Retry-After"] == "1"
        assert latency < 1.0
        ws.send("during")
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1013
        ws.close()
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(stack.ws + "/echo/", timeout=10)
        assert refused.value.status_code == 503
        assert stack.all_alive() == []

        client.delete(*[f"ballast:{i}" for i in range(ballast)])
        assert requests.get(stack.url + "/hello/", timeout=15).status_code == 200
        ws = websocket.create_connection(stack.ws + "/echo/", timeout=10)
        ws.send("after")
        assert '"after"' in ws.recv()
        ws.close()
        ok = sum(requests.get(stack.url + "/hello/", timeout=15).status_code == 200 for _ in range(50))
        assert ok == 50
        assert stack.all_alive() == []
        for process in stack.processes:
            assert "Traceback" not in process.log(), process.name
        record("redis out of memory", http_503_latency_s=round(latency, 3), after_ok=ok)


def test_receive_works_at_maxmemory(own_redis):
    """At maxmemory a send raises BackendFull naming the cause, while queued messages can still be received."""
    from channellayer import BackendFull, get_channel_layer

    layer = get_channel_layer("redis", {"hosts": [own_redis.url]})
    layer.send("oom.test", {"n": 1})
    fill_to_oom(own_redis.client())
    with pytest.raises(BackendFull, match=r"out of memory \(maxmemory\)"):
        layer.send("oom.test", {"n": 2})
    assert layer.receive(["oom.test"], block=False) == ("oom.test", {"n": 1})
    layer.close()
