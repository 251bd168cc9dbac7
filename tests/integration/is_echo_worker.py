"""A tiny non-Django worker for the interface-server integration tests.

Reads http.request / websocket.* from the Redis layer at ``IS_REDIS_URL`` and answers by path:

HTTP: ``/`` -> "hello"; ``/echo`` -> JSON of the request (body read from body_channel when present);
``/stream?n=N&delay=S`` -> N chunks S seconds apart; ``/big?size=N`` -> N bytes in 512 KiB chunks;
``/slow?delay=S`` -> "slow" after S seconds; ``/never`` -> no reply.
WebSocket: connect to ``/ws/reject`` -> accept False, ``/ws/close`` -> close, ``/ws/never`` -> nothing,
anything else -> accept. Text "close:CODE" closes with CODE, "join:G" joins group G and answers
"joined", "send:G:TEXT" broadcasts TEXT to G; other frames are echoed. Every websocket.disconnect
and http.disconnect is forwarded to the channel ``test.events`` for the tests to inspect.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from typing import Any
from urllib.parse import parse_qs

from channellayer import get_channel_layer

layer = get_channel_layer("redis", {"hosts": [os.environ["IS_REDIS_URL"]]})
pending: list[tuple[float, int, str, dict[str, Any]]] = []
counter = 0


def later(delay: float, channel: str, message: dict[str, Any]) -> None:
    global counter
    counter += 1
    heapq.heappush(pending, (time.monotonic() + delay, counter, channel, message))


def read_body(message: dict[str, Any]) -> bytes:
    body = message.get("body", b"")
    channel = message.get("body_channel")
    while channel:
        _, chunk = layer.receive([channel], block=True)
        if chunk is None:
            raise RuntimeError("body chunk timeout")
        if chunk.get("closed"):
            raise RuntimeError("client went away")
        body += chunk.get("content", b"")
        if not chunk.get("more_content"):
            break
    return body


def encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def http(message: dict[str, Any]) -> None:
    reply = message["reply_channel"]
    path = message["path"]
    query = {k: v[0] for k, v in parse_qs(message["query_string"].decode()).items()}
    if path == "/never":
        return
    if path.startswith("/echo"):
        body = read_body(message)
        info = encode({k: v for k, v in message.items() if k != "body"})
        info["body_length"] = len(body)
        info["body_prefix"] = body[:64].decode("latin-1")
        info["body_sum"] = sum(body) % 65536
        data = json.dumps(info).encode()
        layer.send(reply, {"status": 200, "headers": [[b"Content-Type", b"application/json"]], "content": data})
    elif path == "/stream":
        n, delay = int(query.get("n", 3)), float(query.get("delay", 0.1))
        layer.send(
            reply,
            {
                "status": 200,
                "headers": [[b"Content-Type", b"text/plain"]],
                "content": b"chunk0\n",
                "more_content": True,
            },
        )
        for i in range(1, n):
            later(delay * i, reply, {"content": b"chunk%d\n" % i, "more_content": i < n - 1})
    elif path == "/big":
        size = int(query.get("size", 3_000_000))
        step = 512 * 1024
        first = True
        for start in range(0, size, step):
            piece = bytes((start + i) % 251 for i in range(min(step, size - start)))
            more = start + step < size
            msg: dict[str, Any] = {"content": piece, "more_content": more}
            if first:
                msg.update(status=200, headers=[[b"Content-Length", str(size).encode()]])
                first = False
            while True:
                try:
                    layer.send(reply, msg)
                    break
                except layer.ChannelFull:
                    time.sleep(0.01)
    elif path == "/slow":
        later(float(query.get("delay", 1)), reply, {"status": 200, "content": b"slow"})
    else:
        layer.send(reply, {"status": 200, "headers": [[b"Content-Type", b"text/plain"]], "content": b"hello"})


def websocket(channel: str, message: dict[str, Any]) -> None:
    reply = message["reply_channel"]
    if channel == "websocket.connect":
        path = message["path"]
        if path == "/ws/reject":
            layer.send(reply, {"accept": False})
        elif path == "/ws/close":
            layer.send(reply, {"close": True})
        elif path != "/ws/never":
            layer.send(reply, {"accept": True})
        return
    if channel == "websocket.disconnect":
        layer.send("test.events", message)
        return
    text = message.get("text")
    if text is not None and text.startswith("close:"):
        layer.send(reply, {"close": int(text[6:])})
    elif text is not None and text.startswith("join:"):
        layer.group_add(text[5:], reply)
        layer.send(reply, {"text": "joined"})
    elif text is not None and text.startswith("send:"):
        _, group, body = text.split(":", 2)
        layer.send_group(group, {"text": body})
    elif text is not None:
        layer.send(reply, {"text": text})
    else:
        layer.send(reply, {"bytes": message["bytes"]})


def run_once() -> None:
    while pending and pending[0][0] <= time.monotonic():
        _, _, channel, msg = heapq.heappop(pending)
        layer.send(channel, msg)
    channels = ["http.request", "websocket.connect", "websocket.receive", "websocket.disconnect", "http.disconnect"]
    channel, message = layer.receive(channels, block=not pending)
    if channel is None:
        if pending:
            time.sleep(0.005)
        return
    if channel == "http.request":
        http(message)
    elif channel == "http.disconnect":
        layer.send("test.events", {"http.disconnect": message["reply_channel"]})
    else:
        websocket(channel, message)


if __name__ == "__main__":
    print("worker ready", flush=True)
    while True:
        try:
            run_once()
        except Exception as exc:  # keep serving: a test may stop Redis under us
            print("worker error:", repr(exc), flush=True)
            time.sleep(0.2)
