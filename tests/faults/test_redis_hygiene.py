"""After a load run Redis holds nothing of ours but live group memberships (and per-name counters, heartbeats)."""

from __future__ import annotations

import re
import socket
import time

import requests
import websocket

from tests.faults.support import PROFILE, Load, fault_stack, our_keys, record, summary

EXPIRY = 2  # the layer's message expiry for this stack (E2E_EXPIRY): what is unconsumed is gone after it


def abandon_requests(port: int, count: int) -> None:
    """Send ``count`` requests to a slow view and hang up before the answer: each makes an http.disconnect."""
    for i in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET /hello/?sleep=0.05&name=gone{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            time.sleep(0.005)


def exercise(stack) -> None:
    """One of everything the load uses: a view, an echo socket, a chat socket, a streamed upload, an abandoned request."""
    assert requests.get(stack.url + "/hello/", timeout=10).status_code == 200
    ws = websocket.create_connection(stack.ws + "/echo/", timeout=10)
    ws.send("x")
    ws.recv()
    ws.close()
    chat = websocket.create_connection(stack.ws + "/chat/warm/", timeout=10)
    chat.send("hi")
    chat.recv()
    chat.close()
    upload = requests.post(stack.url + "/upload/", data=b"u" * (600 * 1024), timeout=20)  # past the stream threshold
    assert upload.status_code == 200 and upload.json()["length"] == 600 * 1024
    abandon_requests(stack.port, 1)


def test_redis_returns_to_baseline(own_redis):
    """Once messages expire, the only keys a load run leaves are the groups of still-open sockets."""
    with fault_stack(own_redis, env={"E2E_EXPIRY": str(EXPIRY)}) as (stack, server, workers):
        exercise(stack)
        time.sleep(EXPIRY + 2)
        baseline = our_keys(own_redis)
        # The baseline: counters of the fixed channel names and the live processes' status heartbeats
        # (one key each, with a TTL, and their index), nothing else.
        assert [key for key in baseline if not key.startswith(("asgi-meta:", "asgi::status"))] == []
        assert all(ttl > 0 for _, ttl in baseline.values()), baseline

        live = websocket.create_connection(stack.ws + "/chat/live/", timeout=10)
        live.send("hello")
        live.recv()
        load = Load(stack, PROFILE.http_clients, PROFILE.ws_clients).start()
        try:
            for _ in range(3):
                exercise(stack)
            time.sleep(PROFILE.settle)
        finally:
            outcomes = load.stop()
        assert [o for o in outcomes if o.result not in ("200", "echo", "101")] == [], summary(outcomes)
        abandon_requests(stack.port, 150)
        during = our_keys(own_redis)
        # Nobody consumes http.disconnect (no default route, as in 1.1.8): the channel's capacity (100)
        # and the message expiry bound what piles up.
        pending = own_redis.client().llen("asgi:http.disconnect")
        assert 1 <= pending <= 100
        client = own_redis.client()
        deadline = time.monotonic() + 30
        while client.llen("asgi:http.request") and time.monotonic() < deadline:  # the abandoned requests' work
            time.sleep(0.1)
        time.sleep(1 + EXPIRY + 2)
        after = our_keys(own_redis)
        new = sorted(set(after) - set(baseline))
        groups = [key for key in new if key.startswith("asgi::group:")]
        assert groups == ["asgi::group:chat-live"], new
        # Besides that group: only counters of named channels (a fixed set, e.g. the first channel_full_count
        # of http.request), none of a reply or body channel, and no message or list at all.
        counters = [key for key in new if key not in groups]
        assert all(re.fullmatch(r"asgi-meta:[a-z.#]+:(messages_count|channel_full_count)", key) for key in counters), (
            new
        )
        assert all(key.startswith(("asgi-meta:", "asgi::group:", "asgi::status")) for key in after), sorted(after)
        live.close()
        record(
            "Redis after a load run",
            requests=len(outcomes),
            keys_during=len(during),
            http_disconnect_pending=pending,
            baseline_keys=len(baseline),
            keys_after=len(after),
            left_besides_counters=groups,
            new_counters=len(counters),
        )
