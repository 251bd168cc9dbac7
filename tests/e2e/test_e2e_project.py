"""The Channels-1-style project end to end, three ways: our full stack; legacy Daphne 1.4.2 in front of
our workers; our workers next to legacy Channels 1.1.8 workers (Django 2.2) on the same Redis, behind
our daphne, sharing sessions.

Every way runs the same scenarios with real HTTP and WebSocket clients. The pool is split as the
Channels docs suggest: one pool for ``http.*``/``websocket.*``, another for ``slow.*`` only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import pytest
import requests
import websocket

from tests.e2e.stack import Stack

pytestmark = [pytest.mark.redis, pytest.mark.legacy, pytest.mark.slow]

WAYS = ["ours", "legacy-daphne", "mixed-workers"]


@pytest.fixture(scope="module", params=WAYS)
def stack(request: pytest.FixtureRequest, redis_databases) -> Iterator[tuple[str, Stack, dict[str, int]]]:
    way = request.param
    with redis_databases.take() as database:
        s = Stack.on(database, prefix=f"e2e-{way}:")
        pids: dict[str, int] = {}
        try:
            if way == "mixed-workers":
                ours = s.worker(
                    "our-web", "--only-channels", "http.*", "--only-channels", "websocket.*", "--threads", "2"
                )
                theirs = s.worker(
                    "legacy-web", "--only-channels", "http.*", "--only-channels", "websocket.*", legacy=True
                )
                slow = s.worker("legacy-slow", "--only-channels", "slow.*", legacy=True)
                pids = {"web-ours": ours.pid, "web-legacy": theirs.pid, "slow": slow.pid}
            else:
                web = s.worker(
                    "our-web", "--only-channels", "http.*", "--only-channels", "websocket.*", "--threads", "2"
                )
                slow = s.worker("our-slow", "--only-channels", "slow.*")
                pids = {"web": web.pid, "slow": slow.pid}
            s.server(legacy=way == "legacy-daphne")
            s.wait_ready()
            yield way, s, pids
        finally:
            s.stop()


def connect(s: Stack, path: str, **kwargs) -> websocket.WebSocket:
    return websocket.create_connection(s.ws + path, timeout=15, **kwargs)


def recv_json(ws: websocket.WebSocket):
    return json.loads(ws.recv())


def test_view_get(stack):
    """A GET is answered by a Django view through AsgiHandler in a worker."""
    _, s, _ = stack
    response = requests.get(s.url + "/hello/?name=e2e", timeout=15)
    assert response.status_code == 200 and response.json()["hello"] == "e2e"


def test_streaming_view(stack):
    """A StreamingHttpResponse arrives complete, part by part."""
    _, s, _ = stack
    with requests.get(s.url + "/stream/", stream=True, timeout=15) as response:
        assert response.status_code == 200
        assert list(response.iter_lines()) == [f"part{i}".encode() for i in range(5)]


def test_3_mb_upload_and_3_mb_response(stack):
    """A 3 MB request body reaches the view whole; a 3 MB response (512 KiB chunks) arrives whole."""
    _, s, _ = stack
    body = os.urandom(3 * 1024 * 1024)
    response = requests.post(
        s.url + "/upload/", data=body, headers={"Content-Type": "application/octet-stream"}, timeout=60
    )
    assert response.status_code == 200
    assert response.json() == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    big = requests.get(s.url + "/big/", timeout=60)
    assert big.status_code == 200 and big.content == bytes(range(256)) * 4096 * 3


def test_websocket_echo_with_default_connect(stack):
    """A path-filtered function consumer echoes; websocket.connect is accepted by the default route."""
    _, s, _ = stack
    ws = connect(s, "/echo/")
    try:
        ws.send("hello")
        assert recv_json(ws)["echo"] == "hello"
    finally:
        ws.close()


def test_chat_groups_through_include_with_channel_session(stack):
    """include(path=^/chat) + channel_session + Group: a message reaches its room only."""
    _, s, _ = stack
    a, b, c = connect(s, "/chat/lobby/"), connect(s, "/chat/lobby/"), connect(s, "/chat/other/")
    try:
        a.send("hi all")
        assert recv_json(a) == {"room": "lobby", "text": "hi all"}
        assert recv_json(b) == {"room": "lobby", "text": "hi all"}
        c.send("elsewhere")
        assert recv_json(c) == {"room": "other", "text": "elsewhere"}
        b.settimeout(0.5)
        with pytest.raises(websocket.WebSocketTimeoutException):
            b.recv()
    finally:
        for ws in (a, b, c):
            ws.close()


def test_generic_json_consumer_keeps_session_count(stack):
    """A JsonWebsocketConsumer with channel_session counts messages per socket."""
    _, s, _ = stack
    ws = connect(s, "/json/")
    try:
        for n in range(1, 4):
            ws.send(json.dumps({"n": n}))
            reply = recv_json(ws)
            assert reply["count"] == n and reply["echo"] == {"n": n}
    finally:
        ws.close()


def test_demultiplexer_streams(stack):
    """A WebsocketDemultiplexer sends each stream to its consumer and wraps the replies."""
    _, s, _ = stack
    ws = connect(s, "/multi/")
    try:
        ws.send(json.dumps({"stream": "upper", "payload": {"text": "abc"}}))
        assert recv_json(ws) == {"stream": "upper", "payload": {"upper": "ABC"}}
        ws.send(json.dumps({"stream": "echo", "payload": {"k": 1}}))
        assert recv_json(ws) == {"stream": "echo", "payload": {"echo": {"k": 1}}}
    finally:
        ws.close()


def test_enforce_ordering_keeps_order_across_workers(stack):
    """enforce_ordering: a burst of frames is consumed strictly in order, whichever worker takes each."""
    _, s, _ = stack
    ws = connect(s, "/ordered/")
    try:
        for i in range(8):
            ws.send(str(i))
        replies = [recv_json(ws) for _ in range(8)]
        # Each reply is the list of frames consumed so far. Consumption in order means the replies are
        # exactly the prefixes [0], [0, 1], ... [0..7]. (Their arrival order is not part of the
        # promise: a consumer's sends are flushed after its session is saved, in 1.1.8 as here, so
        # two workers may deliver consecutive replies swapped.)
        assert sorted(replies, key=len) == [[str(i) for i in range(n)] for n in range(1, 9)]
    finally:
        ws.close()


def test_slow_pool_serves_only_its_channel(stack):
    """A consumer sends to slow.jobs; only the --only-channels slow.* worker handles it."""
    _, s, pids = stack
    ws = connect(s, "/job/")
    try:
        ws.send("resize")
        reply = recv_json(ws)
        assert reply == {"job": "resize", "pid": pids["slow"]}
    finally:
        ws.close()


def test_consume_later_retries_message(stack):
    """ConsumeLater puts the frame back; it is consumed on its second delivery with __retries__ 1."""
    _, s, _ = stack
    ws = connect(s, "/later/")
    try:
        ws.send("wait")
        assert recv_json(ws) == {"later": "wait", "retries": 1}
    finally:
        ws.close()


def test_http_session_shared_with_websocket(stack):
    """A session set by a view is read over WebSocket via channel_and_http_session, on later frames
    too; in the mixed way, both our and legacy workers answer with the same session."""
    way, s, pids = stack
    http = requests.Session()
    assert http.get(s.url + "/session/set/?value=v-" + way, timeout=15).json()["stored"] == "v-" + way
    seen_pids = set()
    for _ in range(6):
        assert http.get(s.url + "/session/get/", timeout=15).json()["value"] == "v-" + way
    cookie = "sessionid=" + http.cookies["sessionid"]
    sockets = [connect(s, "/wsession/", header=["Cookie: " + cookie]) for _ in range(3)]
    try:
        for _ in range(4):
            for ws in sockets:
                ws.send("get")
                reply = recv_json(ws)
                assert reply["value"] == "v-" + way
                seen_pids.add(reply["pid"])
    finally:
        for ws in sockets:
            ws.close()
    if way == "mixed-workers":
        assert seen_pids == {pids["web-ours"], pids["web-legacy"]}, "both kinds of worker should have served"
