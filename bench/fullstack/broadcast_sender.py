"""Send group messages stamped with CLOCK_MONOTONIC, from either stack (runs as its own process).

``python bench/fullstack/broadcast_sender.py ours|legacy REDIS_URL GROUP COUNT INTERVAL``: builds the
layer (ours: channellayer; legacy: asgi_redis 1.4.3 in the legacy virtualenv), prints ``ready``,
waits for a line on stdin, then sends COUNT messages ``{"text": '{"seq": k, "t": <monotonic>}'}`` to
GROUP, INTERVAL seconds apart, and prints ``{"sent": COUNT, "send_ms": [...]}`` (each send_group's time).
"""

import json
import sys
import time


def make_layer(stack, url):
    if stack == "legacy":
        from asgi_redis import RedisChannelLayer

        return RedisChannelLayer(hosts=[url], group_expiry=3600)
    from channellayer import get_channel_layer

    return get_channel_layer("redis", {"hosts": [url], "group_expiry": 3600})


def main():
    stack, url, group, count, interval = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    layer = make_layer(stack, url)
    print("ready", flush=True)
    sys.stdin.readline()
    durations = []
    for seq in range(count):
        started = time.monotonic()
        layer.send_group(group, {"text": json.dumps({"seq": seq, "t": started})})
        durations.append((time.monotonic() - started) * 1000)
        time.sleep(interval)
    print(json.dumps({"sent": count, "send_ms": durations}), flush=True)


if __name__ == "__main__":
    main()
