"""A tiny non-Django ASGI 1 HTTP worker, and the gunicorn app factory, for the WSGI adapter tests.

Worker: ``python -m tests.integration.wsgi_responder <redis port>``; it answers ``http.request``:
``/hello`` with a JSON summary of the message, ``/echo`` with the size and SHA-256 of the body (read
from ``body_channel`` too), ``/stream`` with five chunks 0.1 s apart, ``/big`` with 3 MB in 64 KB
chunks, and ``/silent`` never. Each request is handled in its own thread.

App: ``gunicorn 'tests.integration.wsgi_responder:make_app()'`` with ``IS_REDIS_PORT`` (and
optionally ``IS_HTTP_TIMEOUT``) in the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from typing import Any

from channellayer import BackendUnavailable, get_channel_layer
from interfaceserver.wsgi import WsgiToAsgiAdapter


def make_layer(port: int) -> Any:
    return get_channel_layer("redis", {"hosts": [("127.0.0.1", port)], "blocking_timeout": 2})


def make_app() -> WsgiToAsgiAdapter:
    layer = make_layer(int(os.environ["IS_REDIS_PORT"]))
    return WsgiToAsgiAdapter(layer, http_timeout=float(os.environ.get("IS_HTTP_TIMEOUT", "30")))


def read_body(layer: Any, message: dict[str, Any]) -> bytes:
    body = message.get("body", b"")
    if not message.get("body_channel"):
        return body
    while True:
        channel, chunk = layer.receive([message["body_channel"]], block=True)
        if channel is None:
            raise RuntimeError("body chunk did not arrive")
        if chunk.get("closed"):
            raise RuntimeError("client went away")
        body += chunk.get("content", b"")
        if not chunk.get("more_content"):
            return body


def handle(layer: Any, message: dict[str, Any]) -> None:
    reply = message["reply_channel"]
    path = message["path"]
    if path == "/silent":
        return
    if path == "/hello":
        summary = {key: value for key, value in message.items() if key not in ("headers", "body", "query_string")}
        summary["query_string"] = message["query_string"].decode("latin-1")
        summary["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in message["headers"]]
        summary["body_channel"] = bool(message.get("body_channel"))
        layer.send(
            reply,
            {
                "status": 200,
                "headers": [[b"Content-Type", b"application/json"]],
                "content": json.dumps(summary).encode(),
            },
        )
    elif path == "/echo":
        body = read_body(layer, message)
        result = {
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "first_part": len(message.get("body", b"")),
            "body_channel": bool(message.get("body_channel")),
        }
        layer.send(
            reply,
            {
                "status": 200,
                "headers": [[b"Content-Type", b"application/json"]],
                "content": json.dumps(result).encode(),
            },
        )
    elif path == "/stream":
        layer.send(
            reply,
            {
                "status": 200,
                "headers": [[b"Content-Type", b"text/plain"]],
                "content": b"chunk0\n",
                "more_content": True,
            },
        )
        for i in range(1, 5):
            time.sleep(0.1)
            layer.send(reply, {"content": f"chunk{i}\n".encode(), "more_content": i < 4})
    elif path == "/big":
        piece = b"0123456789abcdef" * 4096  # 64 KiB
        count = 3 * 1024 * 1024 // len(piece)
        layer.send(
            reply,
            {
                "status": 200,
                "headers": [[b"Content-Length", str(count * len(piece)).encode()]],
                "content": piece,
                "more_content": True,
            },
        )
        for i in range(1, count):
            send_retrying(layer, reply, {"content": piece, "more_content": i < count - 1})
    else:
        layer.send(reply, {"status": 404, "content": b"not here"})


def send_retrying(layer: Any, channel: str, message: dict[str, Any]) -> None:
    while True:
        try:
            layer.send(channel, message)
            return
        except layer.ChannelFull:
            time.sleep(0.01)


def run_once(layer: Any) -> None:
    """Take one http.request and start its handler thread."""
    try:
        channel, message = layer.receive(["http.request"], block=True)
    except BackendUnavailable:
        time.sleep(0.2)
        return
    if channel is not None:
        threading.Thread(target=handle, args=(layer, message), daemon=True).start()


def main() -> None:
    layer = make_layer(int(sys.argv[1]))
    print("responder ready", flush=True)
    while True:
        run_once(layer)


if __name__ == "__main__":
    main()
