"""The benchmark's WebSocket worker: accept every socket and echo every frame (runs in either stack).

``python bench/is_responder.py ours|legacy REDIS_URL``: "ours" reads with our channellayer,
"legacy" with asgi_redis 1.4.3 in the legacy virtualenv. Both speak the same Redis format, so the
interface server in front decides nothing about which worker answers.
"""

from __future__ import annotations

import sys
from typing import Any

CHANNELS = ["websocket.connect", "websocket.receive", "websocket.disconnect"]


def make_layer(stack: str, url: str) -> Any:
    if stack == "legacy":
        from asgi_redis import RedisChannelLayer

        return RedisChannelLayer(hosts=[url], capacity=1000)
    from channellayer import get_channel_layer

    return get_channel_layer("redis", {"hosts": [url], "capacity": 1000})


def run_once(layer: Any) -> None:
    """Answer one message: accept a connect, echo a receive, ignore a disconnect."""
    channel, message = layer.receive(CHANNELS, block=True)
    if channel == "websocket.connect":
        layer.send(message["reply_channel"], {"accept": True})
    elif channel == "websocket.receive":
        key = "text" if message.get("text") is not None else "bytes"
        layer.send(message["reply_channel"], {key: message[key]})


def main() -> None:
    layer = make_layer(sys.argv[1], sys.argv[2])
    print("responder ready", flush=True)
    while True:
        try:
            run_once(layer)
        except Exception as exc:  # a reply channel that filled up must not stop the benchmark
            print(f"responder: {exc!r}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
