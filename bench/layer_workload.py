"""One channel-layer measurement, run in either stack's interpreter; prints one JSON line.

    python bench/layer_workload.py --stack ours|legacy --port P --scenario pairs|group [--n N]

The same code drives both layers through the ASGI 1 API they share, so the only difference
measured is the layer (and the driver under it: redis-py 2.10.6 + msgpack 0.6.2 for legacy).
"""

import argparse
import json
import statistics
import time

HTTP_REQUEST = {
    "reply_channel": "daphne.response.AbCdEfGhIj!kLmNoPqRsT",
    "http_version": "1.1",
    "method": "GET",
    "path": "/chat/room/",
    "query_string": b"a=1&b=2",
    "root_path": "",
    "scheme": "http",
    "headers": [
        [b"host", b"127.0.0.1:8000"],
        [b"user-agent", b"bench/1.0"],
        [b"accept", b"*/*"],
        [b"cookie", b"sessionid=abcdef0123456789"],
    ],
    "body": b"",
    "client": ["127.0.0.1", 50000],
    "server": ["127.0.0.1", 8000],
}


def make_layer(stack, port, **options):
    hosts = [("127.0.0.1", port)]
    if stack == "legacy":
        from asgi_redis import RedisChannelLayer
    else:
        from channellayer import RedisChannelLayer
    return RedisChannelLayer(hosts=hosts, **options)


def _receiver(stack, port, n, queue):
    layer = make_layer(stack, port)
    received = 0
    queue.put("ready")
    while received < n:
        channel, _ = layer.receive(["http.request"], block=True)
        if channel is not None:
            received += 1
    queue.put(time.perf_counter())


def throughput(stack, port, n):
    """One process sends n messages as fast as it can; another receives them (blocking)."""
    import multiprocessing

    layer = make_layer(stack, port, capacity=n + 1)
    layer.flush()
    queue = multiprocessing.Queue()
    receiver = multiprocessing.Process(target=_receiver, args=(stack, port, n, queue))
    receiver.start()
    assert queue.get(timeout=30) == "ready"
    started = time.perf_counter()
    for _ in range(n):
        layer.send("http.request", HTTP_REQUEST)
    finished = queue.get(timeout=300)
    receiver.join(30)
    return {"pairs_per_second": n / (finished - started)}


def pairs(layer, n):
    """send + blocking receive, alternating: a request in, a reply out."""
    layer.flush()
    reply = {"status": 200, "headers": [[b"Content-Type", b"text/html"]], "content": b"x" * 200, "more_content": False}
    started = time.perf_counter()
    for _ in range(n):
        layer.send("http.request", HTTP_REQUEST)
        channel, message = layer.receive(["http.request"], block=True)
        assert channel == "http.request"
        layer.send(message["reply_channel"], reply)
        channel, message = layer.receive(["daphne.response.AbCdEfGhIj!"], block=True)
        assert channel == "daphne.response.AbCdEfGhIj!kLmNoPqRsT"
    elapsed = time.perf_counter() - started
    return {"pairs_per_second": 2 * n / elapsed}


def group(layer, n):
    """send_group to 1,000 members on one interface server's reply list, nobody reading."""
    members = [f"daphne.response.AbCdEfGhIj!m{i:04d}" for i in range(1000)]
    times = []
    delivered = []
    for _ in range(n):
        layer.flush()
        for member in members:
            layer.group_add("everyone", member)
        started = time.perf_counter()
        layer.send_group("everyone", {"text": "broadcast " + "x" * 100})
        times.append(time.perf_counter() - started)
        count = 0
        while layer.receive(["daphne.response.AbCdEfGhIj!"], block=False)[0] is not None:
            count += 1
        delivered.append(count)
    return {"group_send_ms": statistics.median(times) * 1000, "delivered": min(delivered)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", choices=["ours", "legacy"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", choices=["pairs", "group", "throughput"], required=True)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    if args.scenario == "throughput":
        result = throughput(args.stack, args.port, args.n)
    else:
        layer = make_layer(args.stack, args.port)
        result = {"pairs": pairs, "group": group}[args.scenario](layer, args.n)
        layer.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
