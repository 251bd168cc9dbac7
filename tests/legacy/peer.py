"""A legacy asgi_redis 1.4.3 peer, run by the interop tests inside the legacy virtualenv.

It reads one JSON command per line on stdin and answers one JSON line on stdout. bytes travel as
{"__bytes__": "<base64>"} both ways. Commands: {"op": "<layer method>", "args": [...]}, where the
op is any method of asgi_redis's layer (send, receive, new_channel, group_add, group_discard,
group_channels, send_group, flush, global_statistics, channel_statistics), plus "config" to
(re)build the layer with the given kwargs. Errors come back as {"error": "<class name>", "text": …}.
"""

import base64
import json
import sys


def encode(value):
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [encode(v) for v in value]
    return value


def decode(value):
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def main():
    import asgi_redis

    layer = None
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["op"] == "config":
                kwargs = decode(command["kwargs"])
                kwargs["hosts"] = [tuple(h) if isinstance(h, list) else h for h in kwargs.get("hosts", [])]
                cls = getattr(asgi_redis, command.get("class", "RedisChannelLayer"))
                layer = cls(**kwargs)
                result = None
            else:
                result = getattr(layer, command["op"])(*decode(command.get("args", [])))
                if command["op"] == "group_channels":
                    result = sorted(result)
            reply = {"result": encode(result)}
        except Exception as exc:  # report every failure to the test, which asserts on it
            reply = {"error": type(exc).__name__, "text": str(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
