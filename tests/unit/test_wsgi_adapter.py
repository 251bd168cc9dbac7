"""WsgiToAsgiAdapter: environ → http.request translation (pure) and the adapter's flow on the memory layer."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from channellayer import MemoryChannelLayer
from interfaceserver.wsgi import WsgiToAsgiAdapter, request_message, response_headers, status_line
from interfaceserver.wsgi_replies import OVERFLOW, ReplyReader
from tests.unit.test_is_messages import DAPHNE_HTTP_REQUEST_KEYS


def make_environ(**overrides: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "10.0.0.5",
        "REMOTE_PORT": "51234",
        "HTTP_HOST": "example.com",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
    }
    environ.update(overrides)
    return environ


class StartResponse:
    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        self.status = status
        self.headers = headers


# -- pure translation -------------------------------------------------------------------------------


def test_request_message_has_daphne_keys_in_order_with_text_paths_and_byte_headers() -> None:
    """A POST environ becomes Daphne's http.request: text path/root_path, raw query bytes, lowercased header pairs."""
    utf8_path = "/caf\u00e9 bar/".encode().decode("latin-1")  # how PEP 3333 hands over UTF-8 path bytes
    environ = make_environ(
        REQUEST_METHOD="post",
        SCRIPT_NAME="/app",
        PATH_INFO=utf8_path,
        QUERY_STRING="q=%C2%A3&r=2",
        CONTENT_TYPE="application/x-www-form-urlencoded",
        CONTENT_LENGTH="12",
        HTTP_X_CUSTOM="v\u00e9",
        HTTP_COOKIE="a=b",
    )
    message = request_message(environ, "wsgi.response.abc!def", body=b"x=1&y=%C2%A3")
    assert list(message) == DAPHNE_HTTP_REQUEST_KEYS
    assert message["method"] == "POST"
    assert message["http_version"] == "1.1"
    assert message["path"] == "/app/caf\u00e9 bar/"
    assert message["root_path"] == "/app"
    assert message["query_string"] == b"q=%C2%A3&r=2"
    assert message["headers"] == [
        [b"host", b"example.com"],
        [b"content-type", b"application/x-www-form-urlencoded"],
        [b"content-length", b"12"],
        [b"x-custom", b"v\xe9"],
        [b"cookie", b"a=b"],
    ]
    assert message["body"] == b"x=1&y=%C2%A3"
    assert message["client"] == ["10.0.0.5", 51234]
    assert message["server"] == ["127.0.0.1", 8000]
    assert message["scheme"] == "http"


def test_request_message_defaults_for_empty_path_http10_https_and_unix_peers() -> None:
    """Empty path gives "/", HTTP/1.0 and https pass through, no REMOTE_ADDR or SERVER_PORT gives None peers."""
    environ = make_environ(
        PATH_INFO="", SERVER_PROTOCOL="HTTP/1.0", REMOTE_ADDR="", SERVER_PORT="", CONTENT_TYPE="", CONTENT_LENGTH=""
    )
    environ["wsgi.url_scheme"] = "https"
    message = request_message(environ, "r!x")
    assert message["path"] == "/"
    assert message["http_version"] == "1.0"
    assert message["scheme"] == "https"
    assert message["client"] is None
    assert message["server"] is None
    assert message["headers"] == [[b"host", b"example.com"]]


def test_request_message_carries_body_channel_after_body() -> None:
    """A streamed body puts body_channel right after body, like our interface server."""
    message = request_message(make_environ(), "r!x", body=b"abc", body_channel="http.request.body?XyZ")
    keys = list(message)
    assert keys.index("body_channel") == keys.index("body") + 1
    assert message["body_channel"] == "http.request.body?XyZ"


def test_status_line_uses_standard_reason_phrases() -> None:
    """Status lines use the standard phrase; unknown codes say "Unknown Status"."""
    assert status_line(200) == "200 OK"
    assert status_line(418) == "418 I'm a Teapot"
    assert status_line(503) == "503 Service Unavailable"
    assert status_line(299) == "299 Unknown Status"


def test_response_headers_decode_latin1_and_drop_hop_by_hop() -> None:
    """Response headers become latin-1 str pairs; Connection/Transfer-Encoding etc. are dropped (PEP 3333)."""
    pairs = response_headers(
        [
            (b"Content-Type", b"text/plain"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Connection", b"close"),
            (b"X-Name", b"caf\xe9"),
            (b"Set-Cookie", b"a=1"),
            (b"Set-Cookie", b"b=2"),
        ]
    )
    assert pairs == [
        ("Content-Type", "text/plain"),
        ("X-Name", "caf\u00e9"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]


# -- the adapter on the memory layer, with a worker thread -----------------------------------------


def serve(
    layer: MemoryChannelLayer, handler: Callable[[dict[str, Any]], list[dict[str, Any]]], count: int = 1
) -> threading.Thread:
    """A worker thread answering ``count`` http.request messages with the replies ``handler`` returns."""

    def run() -> None:
        for _ in range(count):
            channel = None
            while channel is None:
                channel, message = layer.receive(["http.request"], block=True)
            for reply in handler(message):
                layer.send(message["reply_channel"], reply)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def read_body_channel(layer: MemoryChannelLayer, message: dict[str, Any]) -> bytes:
    body = message["body"]
    if "body_channel" not in message:
        return body
    while True:
        channel, chunk = layer.receive([message["body_channel"]], block=True)
        assert channel is not None, "body chunk did not arrive"
        body += chunk["content"]
        if not chunk["more_content"]:
            return body


@pytest.fixture
def layer() -> MemoryChannelLayer:
    return MemoryChannelLayer(blocking_timeout=1)


def call(adapter: WsgiToAsgiAdapter, environ: dict[str, Any]) -> tuple[StartResponse, bytes]:
    start = StartResponse()
    result = adapter(environ, start)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return start, body


def test_get_round_trip_returns_status_headers_and_body(layer: MemoryChannelLayer) -> None:
    """A GET goes out as http.request on a process reply channel; the Response comes back as the WSGI response."""
    seen: list[dict[str, Any]] = []

    def handler(message: dict[str, Any]) -> list[dict[str, Any]]:
        seen.append(message)
        return [{"status": 201, "headers": [[b"Content-Type", b"text/plain"]], "content": b"made"}]

    adapter = WsgiToAsgiAdapter(layer)
    serve(layer, handler)
    start, body = call(adapter, make_environ(PATH_INFO="/x"))
    assert (start.status, start.headers, body) == ("201 Created", [("Content-Type", "text/plain")], b"made")
    assert seen[0]["reply_channel"].startswith(adapter.reader.prefix)
    assert seen[0]["reply_channel"].count("!") == 1
    assert seen[0]["path"] == "/x" and seen[0]["body"] == b"" and "body_channel" not in seen[0]
    assert adapter.reader.waiting == 0


def test_small_body_goes_inline(layer: MemoryChannelLayer) -> None:
    """A body up to body_threshold travels in the http.request message itself."""
    adapter = WsgiToAsgiAdapter(layer, body_threshold=1024)
    serve(layer, lambda m: [{"status": 200, "content": m["body"][::-1] + str("body_channel" in m).encode()}])
    _, body = call(
        adapter,
        make_environ(REQUEST_METHOD="POST", CONTENT_LENGTH="1024", **{"wsgi.input": io.BytesIO(b"a" * 1023 + b"b")}),
    )
    assert body == b"b" + b"a" * 1023 + b"False"


def test_large_body_streams_over_body_channel_in_chunks(layer: MemoryChannelLayer) -> None:
    """A body above body_threshold: the first part in body, the rest as content/more_content chunks on body_channel."""
    payload = bytes(range(256)) * 40  # 10,240 bytes
    firsts: list[bytes] = []

    def handler(message: dict[str, Any]) -> list[dict[str, Any]]:
        firsts.append(message["body"])
        assert message["body_channel"].startswith("http.request.body?")
        return [{"status": 200, "content": read_body_channel(layer, message)}]

    adapter = WsgiToAsgiAdapter(layer, body_threshold=4096)
    serve(layer, handler)
    _, body = call(
        adapter,
        make_environ(REQUEST_METHOD="POST", CONTENT_LENGTH=str(len(payload)), **{"wsgi.input": io.BytesIO(payload)}),
    )
    assert body == payload
    assert firsts == [payload[:4096]]


def test_chunked_request_without_length_reads_to_eof(layer: MemoryChannelLayer) -> None:
    """With wsgi.input_terminated and no Content-Length, the body is read to EOF (and streamed if large)."""
    payload = b"z" * 5000
    adapter = WsgiToAsgiAdapter(layer, body_threshold=2000)
    serve(layer, lambda m: [{"status": 200, "content": read_body_channel(layer, m)}])
    _, body = call(
        adapter,
        make_environ(
            REQUEST_METHOD="POST",
            HTTP_TRANSFER_ENCODING="chunked",
            **{"wsgi.input": io.BytesIO(payload), "wsgi.input_terminated": True},
        ),
    )
    assert body == payload


def test_streaming_response_yields_each_chunk(layer: MemoryChannelLayer) -> None:
    """more_content chunks are yielded one by one until a chunk without more_content."""
    replies = [
        {"status": 200, "headers": [], "content": b"one,", "more_content": True},
        {"content": b"two,", "more_content": True},
        {"content": b"", "more_content": True},
        {"content": b"three"},
    ]
    adapter = WsgiToAsgiAdapter(layer)
    serve(layer, lambda m: replies)
    start = StartResponse()
    result = adapter(make_environ(), start)
    assert list(result) == [b"one,", b"two,", b"three"]
    result.close()  # type: ignore[attr-defined]
    assert layer.receive(["http.disconnect"]) == (None, None)


def test_full_request_channel_answers_503_with_retry_after(layer: MemoryChannelLayer) -> None:
    """ChannelFull on http.request gives 503 "Request queue full." with Retry-After, at once."""
    full = MemoryChannelLayer(channel_capacity={"http.request": 1})
    full.send("http.request", {"filler": True})
    adapter = WsgiToAsgiAdapter(full, retry_after=7)
    start, body = call(adapter, make_environ())
    assert start.status == "503 Service Unavailable"
    assert ("Retry-After", "7") in start.headers
    assert b"Request queue full." in body
    assert adapter.reader.waiting == 0


def test_no_reply_within_http_timeout_answers_503(layer: MemoryChannelLayer) -> None:
    """No Response within http_timeout gives 503 "Worker server failed to respond within time limit."."""
    adapter = WsgiToAsgiAdapter(layer, http_timeout=0.2)
    start, body = call(adapter, make_environ())
    assert start.status == "503 Service Unavailable"
    assert b"failed to respond within time limit" in body
    assert adapter.reader.waiting == 0


def test_body_over_limit_answers_413_before_sending(layer: MemoryChannelLayer) -> None:
    """A Content-Length above max_body_size gives 413 and sends nothing to the workers."""
    adapter = WsgiToAsgiAdapter(layer, max_body_size=100)
    start, body = call(
        adapter, make_environ(REQUEST_METHOD="POST", CONTENT_LENGTH="101", **{"wsgi.input": io.BytesIO(b"x" * 101)})
    )
    assert start.status in ("413 Request Entity Too Large", "413 Content Too Large")  # the phrase varies by Python
    assert b"exceeds the 100 byte limit" in body
    assert layer.receive(["http.request"]) == (None, None)


def test_short_body_answers_400_and_closes_body_channel(layer: MemoryChannelLayer) -> None:
    """A client that sends less than Content-Length gets 400, and the worker gets a closed chunk."""
    adapter = WsgiToAsgiAdapter(layer, body_threshold=10)
    start, body = call(
        adapter, make_environ(REQUEST_METHOD="POST", CONTENT_LENGTH="50", **{"wsgi.input": io.BytesIO(b"y" * 30)})
    )
    assert start.status == "400 Bad Request"
    _, message = layer.receive(["http.request"])
    chunks = [layer.receive([message["body_channel"]])[1] for _ in range(3)]
    assert chunks == [{"content": b"y" * 10, "more_content": True}] * 2 + [{"closed": True}]


def test_malformed_reply_answers_500(layer: MemoryChannelLayer) -> None:
    """A first reply without status is a decode error: 500 "HTTP processing error"."""
    adapter = WsgiToAsgiAdapter(layer)
    serve(layer, lambda m: [{"content": b"no status"}])
    start, body = call(adapter, make_environ())
    assert start.status == "500 Internal Server Error"
    assert b"HTTP processing error" in body


def test_abandoned_streaming_response_sends_http_disconnect(layer: MemoryChannelLayer) -> None:
    """Closing the iterable before the last chunk sends http.disconnect with reply_channel and path."""
    adapter = WsgiToAsgiAdapter(layer)
    serve(layer, lambda m: [{"status": 200, "content": b"a", "more_content": True}])
    start = StartResponse()
    result = adapter(make_environ(PATH_INFO="/s"), start)
    assert next(iter(result)) == b"a"
    result.close()  # type: ignore[attr-defined]
    _, message = layer.receive(["http.disconnect"])
    assert message["path"] == "/s" and message["reply_channel"].startswith(adapter.reader.prefix)
    assert adapter.reader.waiting == 0


def test_stalled_stream_aborts_the_body(layer: MemoryChannelLayer) -> None:
    """After the response started, no chunk within chunk_timeout aborts the iteration (connection dropped)."""
    adapter = WsgiToAsgiAdapter(layer, chunk_timeout=0.2)
    serve(layer, lambda m: [{"status": 200, "content": b"a", "more_content": True}])
    result = adapter(make_environ(), StartResponse())
    iterator = iter(result)
    assert next(iterator) == b"a"
    with pytest.raises(ConnectionAbortedError, match="Worker stopped sending"):
        next(iterator)
    result.close()  # type: ignore[attr-defined]


def test_concurrent_requests_each_get_their_own_reply(layer: MemoryChannelLayer) -> None:
    """Many threads in one process share one reader; replies sent in reverse order still reach their request."""
    adapter = WsgiToAsgiAdapter(layer)
    count = 20
    results: dict[int, bytes] = {}

    def client(i: int) -> None:
        _, body = call(adapter, make_environ(QUERY_STRING=f"i={i}"))
        results[i] = body

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    requests = []
    while len(requests) < count:
        channel, message = layer.receive(["http.request"], block=True)
        assert channel is not None
        requests.append(message)
    for message in reversed(requests):
        layer.send(message["reply_channel"], {"status": 200, "content": message["query_string"]})
    for thread in threads:
        thread.join(5)
    assert results == {i: f"i={i}".encode() for i in range(count)}
    assert len({m["reply_channel"].split("!")[0] for m in requests}) == 1


def test_reader_drops_unknown_and_fails_overflowing_requests(layer: MemoryChannelLayer) -> None:
    """The reader drops replies for unknown names and gives OVERFLOW to a request whose queue is full."""
    reader = ReplyReader(layer, queue_size=2)
    channel, replies = reader.register()
    reader.dispatch(reader.prefix + "nobody", {"content": b"lost"})
    assert replies.empty()
    for i in range(3):
        reader.dispatch(channel, {"content": str(i).encode()})
    assert replies.get_nowait() is OVERFLOW
    assert reader.waiting == 0
    reader.close()


def test_reader_run_once_receives_by_prefix(layer: MemoryChannelLayer) -> None:
    """run_once takes one message from <prefix>!<local> and puts it in that request's queue."""
    reader = ReplyReader(layer)
    reader._thread = threading.current_thread()  # keep register() from starting the real thread
    channel, replies = reader.register()
    layer.send(channel, {"status": 204})
    assert reader.run_once() is True
    assert replies.get_nowait() == {"status": 204}


def test_adapter_rejects_a_threshold_above_the_message_limit(layer: MemoryChannelLayer) -> None:
    """body_threshold above 900 KiB would not fit a 1 MiB message: ValueError naming it."""
    with pytest.raises(ValueError, match="body_threshold must be between 1 and 921600"):
        WsgiToAsgiAdapter(layer, body_threshold=2 * 1024 * 1024)


def test_a_forked_process_gets_its_own_reader(layer: MemoryChannelLayer) -> None:
    """After a fork (another pid) the adapter makes a new reader with a new prefix instead of the parent's."""
    adapter = WsgiToAsgiAdapter(layer)
    parent = adapter.reader
    assert adapter.reader is parent
    parent.pid = -1  # as seen from a child process
    child = adapter.reader
    assert child is not parent and child.prefix != parent.prefix


def test_full_body_channel_waits_on_the_full_schedule_then_answers_503(
    layer: MemoryChannelLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body chunk meeting a full body channel is retried after 10, 20, 40 ms… (retry.FULL), never past
    body_send_timeout, then the request gets 503 "Worker did not read the request body in time."."""
    full = MemoryChannelLayer(blocking_timeout=1, channel_capacity={"http.request.body?*": 1})
    waits: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr("interfaceserver.wsgi.time.sleep", sleep)
    adapter = WsgiToAsgiAdapter(full, body_threshold=100, body_send_timeout=0.3)
    payload = b"p" * 400  # 100 inline, then three chunks: the first fills the channel, the second waits
    start, body = call(
        adapter,
        make_environ(REQUEST_METHOD="POST", CONTENT_LENGTH="400", **{"wsgi.input": io.BytesIO(payload)}),
    )
    assert start.status == "503 Service Unavailable"
    assert b"Worker did not read the request body in time." in body
    assert waits[:4] == pytest.approx([0.01, 0.02, 0.04, 0.08])
    assert sum(waits) <= 0.3 + 1e-6


def test_error_page_is_the_shared_html_page() -> None:
    """The adapter's own error answers use the server's page (errorpage.error_html), without Daphne's footer."""
    full = MemoryChannelLayer(channel_capacity={"http.request": 1})
    full.send("http.request", {"filler": True})
    start, body = call(WsgiToAsgiAdapter(full), make_environ())
    assert body == (
        b"<html><head><title>503 Service Unavailable</title></head><body><h1>503 Service Unavailable</h1>"
        b"<p>Request queue full.</p></body></html>"
    )
    assert ("Content-Length", str(len(body))) in start.headers


def test_adapter_does_not_import_twisted() -> None:
    """Importing the WSGI adapter loads no Twisted module (it runs under gunicorn/uWSGI, not the reactor)."""
    code = "import sys, interfaceserver.wsgi; print(sorted(m for m in sys.modules if m.startswith('twisted')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
