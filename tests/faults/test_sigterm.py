"""The interface server stopped with SIGTERM under load: a graceful drain, counted on the worker side."""

from __future__ import annotations

import signal
import threading
import time

import requests
import websocket

from tests.faults.support import PROFILE, fault_stack, record

SLOW = 1.5


def test_sigterm_under_load(own_redis):
    """In-flight responses complete, every WebSocket closes 1001, every websocket.disconnect is consumed, exit 0."""
    sockets_wanted = 50 if PROFILE.outage > 2 else 20
    # Two workers serve them 1.5 s each: all of them finish well inside the 10 s drain timeout.
    in_flight = 10 if PROFILE.outage > 2 else 6
    with fault_stack(own_redis, "--drain-timeout", "10") as (stack, server, workers):
        client = own_redis.client()
        group = "asgi::group:chat-drain"
        sockets = [websocket.create_connection(stack.ws + "/chat/drain/", timeout=15) for _ in range(sockets_wanted)]
        deadline = time.monotonic() + 20
        while client.zcard(group) < sockets_wanted:
            assert time.monotonic() < deadline, f"only {client.zcard(group)} sockets joined"
            time.sleep(0.05)
        replies: list[tuple[int, str]] = []
        lock = threading.Lock()

        def slow(i: int) -> None:
            reply = requests.get(stack.url + f"/hello/?sleep={SLOW}&name=slow{i}", timeout=30)
            with lock:
                replies.append((reply.status_code, reply.json()["hello"]))

        threads = [threading.Thread(target=slow, args=(i,)) for i in range(in_flight)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # every slow request is now with a worker (two workers: some still queued)
        sent_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        codes = []
        for ws in sockets:
            opcode, data = ws.recv_data(control_frame=True)
            while opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                opcode, data = ws.recv_data(control_frame=True)
            codes.append(int.from_bytes(data[:2], "big") if opcode == websocket.ABNF.OPCODE_CLOSE else -opcode)
            ws.close()
        for thread in threads:
            thread.join(30)
        server.popen.wait(20)
        drained = time.monotonic() - sent_at
        assert server.popen.returncode == 0
        assert "Drain timeout" not in server.log()
        assert codes == [1001] * sockets_wanted
        assert sorted(replies) == sorted((200, f"slow{i}") for i in range(in_flight))
        # Each websocket.disconnect ran chat_disconnect, which discards the socket from the group.
        deadline = time.monotonic() + 15
        while client.zcard(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.zcard(group) == 0
        stack.processes.remove(server)
        assert stack.all_alive() == []
        record(
            "interface server SIGTERM under load",
            websockets=sockets_wanted,
            closed_1001=codes.count(1001),
            disconnects_consumed=sockets_wanted - client.zcard(group),
            in_flight=in_flight,
            completed_200=sum(1 for s, _ in replies if s == 200),
            sigterm_to_all_answered_s=round(drained, 2),
            exit_code=server.popen.returncode,
        )
