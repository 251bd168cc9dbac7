"""AsgiRequest / AsgiHandler / ViewConsumer on the in-memory layer (reference §2.1–2.3, §5.9)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time

import pytest

from tests.djangoapp_http import bootstrap

bootstrap.setup()

from django.test import override_settings  # noqa: E402

from channellayer import MemoryChannelLayer, SQLiteChannelLayer  # noqa: E402
from tests.unit.worker_helpers import FakeTime  # noqa: E402
from worker.asgi import ChannelLayerWrapper  # noqa: E402
from worker.handler import AsgiHandler, AsgiRequest, ViewConsumer  # noqa: E402
from worker.message import Message  # noqa: E402

REPLY = "test.response!abc"


@pytest.fixture
def layer() -> ChannelLayerWrapper:
    return ChannelLayerWrapper(MemoryChannelLayer(blocking_timeout=0.05), "default", [])


def http_message(layer, path="/echo/", method="GET", query=b"", headers=None, body=b"", **extra) -> Message:
    content = {
        "reply_channel": REPLY,
        "http_version": "1.1",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": headers if headers is not None else [[b"host", b"testserver"]],
        "body": body,
        "client": ["10.1.2.3", 5555],
        "server": ["127.0.0.1", 8000],
    }
    content.update(extra)
    return Message(content, "http.request", layer)


def replies(layer) -> list[dict]:
    out = []
    while True:
        channel, message = layer.receive([REPLY.split("!")[0] + "!"])
        if channel is None:
            return out
        out.append(message)


def run_view(layer, message) -> list[dict]:
    ViewConsumer()(message)
    return replies(layer)


def body_of(messages) -> bytes:
    return b"".join(m.get("content", b"") for m in messages)


def json_of(messages) -> dict:
    return json.loads(body_of(messages))


def test_meta_built_like_channels_1(layer):
    """META carries method, decoded query, script name/path split, client/server and header names as 1.1.8 did."""
    message = http_message(
        layer,
        path="/prefix/echo/",
        method="post",
        query=b"a=1&b=%C2%A3",
        root_path="/prefix",
        headers=[
            [b"host", b"example.com"],
            [b"content-type", b"application/x-www-form-urlencoded; charset=utf-8"],
            [b"content-length", b"3"],
            [b"x-multi", b"one"],
            [b"x-multi", b"two"],
        ],
        body=b"x=1",
    )
    request = AsgiRequest(message)
    meta = request.META
    assert meta["REQUEST_METHOD"] == "POST"
    assert meta["QUERY_STRING"] == "a=1&b=%C2%A3"
    assert (meta["SCRIPT_NAME"], meta["PATH_INFO"]) == ("/prefix", "/echo/")
    assert (meta["REMOTE_ADDR"], meta["REMOTE_HOST"], meta["REMOTE_PORT"]) == ("10.1.2.3", "10.1.2.3", 5555)
    assert (meta["SERVER_NAME"], meta["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert meta["CONTENT_TYPE"].startswith("application/x-www-form-urlencoded")
    assert meta["CONTENT_LENGTH"] == "3"
    assert meta["HTTP_X_MULTI"] == "one,two"
    assert meta["wsgi.multithread"] is True and meta["wsgi.multiprocess"] is True
    assert request.GET["b"] == "£"
    assert request.POST["x"] == "1"
    assert request.encoding == "utf-8"
    assert request.path_info == "/echo/"


def test_meta_without_server_and_dict_headers(layer):
    """No ``server`` gives SERVER_NAME 'unknown' / SERVER_PORT '0'; old-style dict headers are still read."""
    message = http_message(layer, headers={"cookie": b"a=b; c=d", "host": b"h"})
    del message.content["server"]
    request = AsgiRequest(message)
    assert (request.META["SERVER_NAME"], request.META["SERVER_PORT"]) == ("unknown", "0")
    assert request.COOKIES == {"a": "b", "c": "d"}
    assert request.META["HTTP_HOST"] == "h"


def test_scheme_drives_is_secure(layer):
    """``scheme: https`` makes ``request.is_secure()`` true; the default is http."""
    assert AsgiRequest(http_message(layer, scheme="https")).is_secure() is True
    assert AsgiRequest(http_message(layer)).is_secure() is False


def test_full_view_round_trip(layer):
    """A GET through ViewConsumer gives one Response message with status, Django-case headers and JSON body."""
    messages = run_view(layer, http_message(layer, query=b"q=1&q=2"))
    assert len(messages) == 1
    first = messages[0]
    assert first["status"] == 200 and first["more_content"] is False
    assert [b"Content-Type", b"application/json"] in [list(h) for h in first["headers"]]
    data = json.loads(first["content"])
    assert data["GET"] == {"q": ["1", "2"]}
    assert data["meta"]["REMOTE_PORT"] == 5555


def test_non_utf8_query_string_is_400(layer):
    """A query string that is not UTF-8 is answered 400 (UnicodeDecodeError), not a crash."""
    messages = run_view(layer, http_message(layer, query=b"a=\xff\xfe"))
    assert messages[0]["status"] == 400


def test_set_cookie_keeps_leading_space(layer):
    """Cookies go out as ``Set-Cookie`` headers whose value has 1.1.8's leading space."""
    messages = run_view(layer, http_message(layer, path="/cookie/"))
    cookies = [value for name, value in messages[0]["headers"] if name == b"Set-Cookie"]
    assert cookies == [b" flavour=oatmeal; Path=/"]


def test_large_response_chunked_at_512k(layer):
    """A 3 MiB body is sent as six 512 KiB messages; only the first has status, only the last more_content False."""
    messages = run_view(layer, http_message(layer, path="/big/", query=b"size=3145728"))
    assert [len(m["content"]) for m in messages] == [512 * 1024] * 6
    assert "status" in messages[0] and all("status" not in m for m in messages[1:])
    assert [m["more_content"] for m in messages] == [True] * 5 + [False]


def test_empty_body_single_message(layer):
    """An empty response body is one message with content b'' and more_content False."""
    chunks = list(AsgiHandler.chunk_bytes(b""))
    assert chunks == [(b"", True)]


def test_streaming_response(layer):
    """Each part of a streaming response is its own message (more_content True), then a final closing message."""
    messages = run_view(layer, http_message(layer, path="/stream/", query=b"parts=3"))
    assert messages[0]["status"] == 200
    assert [m.get("content") for m in messages] == [b"part0;", b"part1;", b"part2;", None]
    assert [m["more_content"] for m in messages] == [True, True, True, False]


def test_file_response_uses_512k_blocks(layer):
    """A FileResponse is read in 512 KiB blocks, so a 1 MiB + 10 B file is three messages plus the close."""
    messages = run_view(layer, http_message(layer, path="/file/"))
    sizes = [len(m.get("content", b"")) for m in messages]
    assert sizes == [512 * 1024, 512 * 1024, 10, 0]
    assert messages[-1]["more_content"] is False


def test_response_later_sends_nothing(layer):
    """A view raising ResponseLater leads to no reply at all."""
    assert run_view(layer, http_message(layer, path="/later/")) == []


def test_view_exception_is_django_500(layer, caplog):
    """An exception in a view is Django's normal 500 response, logged on django.request."""
    with caplog.at_level(logging.ERROR, "django.request"):
        messages = run_view(layer, http_message(layer, path="/boom/"))
    assert messages[0]["status"] == 500
    assert "view exploded" in caplog.text


@pytest.mark.parametrize("debug", [True, False])
def test_plain_text_500_when_error_handling_fails(layer, debug):
    """When Django's own error handling raises, the answer is a plain-text 500 (traceback only under DEBUG)."""
    with override_settings(DEBUG_PROPAGATE_EXCEPTIONS=True, DEBUG=debug):
        messages = run_view(layer, http_message(layer, path="/boom/"))
    first = messages[0]
    assert first["status"] == 500
    assert [b"Content-Type", b"text/plain"] in [list(h) for h in first["headers"]]
    text = body_of(messages).decode()
    if debug:
        assert "Traceback" in text and "view exploded" in text
    else:
        assert text == "Internal Server Error"


def test_body_channel_chunks_are_appended(layer):
    """The body is message['body'] followed by every body_channel chunk until more_content is false."""
    body_channel = layer.new_channel("http.request.body?")
    payload = bytes(range(256)) * 12000  # ~3 MB, so it cannot fit in one 1 MiB message
    pieces = [payload[i : i + 900_000] for i in range(0, len(payload), 900_000)]
    for i, piece in enumerate(pieces[1:]):
        layer.send(body_channel, {"content": piece, "more_content": i < len(pieces) - 2})
    message = http_message(
        layer,
        path="/digest/",
        method="POST",
        body=pieces[0],
        body_channel=body_channel,
        headers=[[b"content-type", b"application/octet-stream"]],
    )
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=None, FILE_UPLOAD_MAX_MEMORY_SIZE=1024):
        data = json_of(run_view(layer, message))
    assert data == {"length": len(payload), "sha1": hashlib.sha1(payload).hexdigest()}


def test_body_chunk_closed_aborts_without_response(layer):
    """A body chunk with closed=True aborts the request: no response is sent."""
    body_channel = layer.new_channel("http.request.body?")
    layer.send(body_channel, {"content": b"abc", "more_content": True})
    layer.send(body_channel, {"closed": True})
    message = http_message(layer, path="/digest/", method="POST", body_channel=body_channel)
    assert run_view(layer, message) == []


def test_body_timeout_is_408(layer, monkeypatch):
    """A body channel that stays incomplete past body_receive_timeout gives 408 'Request Timeout (upload too slow)'."""
    monkeypatch.setattr(AsgiRequest, "body_receive_timeout", 0.3)
    body_channel = layer.new_channel("http.request.body?")
    layer.send(body_channel, {"content": b"abc", "more_content": True})
    message = http_message(layer, path="/digest/", method="POST", body_channel=body_channel)
    started = time.monotonic()
    messages = run_view(layer, message)
    assert 0.3 <= time.monotonic() - started < 3
    assert messages[0]["status"] == 408
    assert body_of(messages) == b"408 Request Timeout (upload too slow)"


def test_body_must_be_bytes(layer):
    """A text ``body`` is a malformed message: TypeError naming the key."""
    with pytest.raises(TypeError, match="'body' must be bytes"):
        AsgiRequest(http_message(layer, body="text"))


def _oversize_message(layer, path, content_type=b"application/octet-stream"):
    body_channel = layer.new_channel("http.request.body?")
    for _ in range(3):
        layer.send(body_channel, {"content": b"y" * 4000, "more_content": True})
    layer.send(body_channel, {"content": b"y", "more_content": False})
    message = http_message(
        layer, path=path, method="POST", body=b"", body_channel=body_channel, headers=[[b"content-type", content_type]]
    )
    return message, body_channel


def test_oversize_body_is_400_when_read(layer):
    """A streamed non-multipart body past DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 400 when the view reads it."""
    message, body_channel = _oversize_message(layer, "/digest/")
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000):
        messages = run_view(layer, message)
    assert messages[0]["status"] == 400
    assert layer.receive([body_channel]) == (None, None)  # every chunk was drained


def test_oversize_body_ignored_by_view_is_fine(layer):
    """As on WSGI, a view that never reads an oversize body still answers normally (body drained, not stored)."""
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000):
        messages = run_view(layer, _oversize_message(layer, "/ignore/")[0])
    assert messages[0]["status"] == 200 and body_of(messages) == b"ignored"


def test_declared_oversize_content_length_is_400(layer):
    """A declared Content-Length past DATA_UPLOAD_MAX_MEMORY_SIZE is refused (400) as Django does on WSGI."""
    message = http_message(
        layer,
        path="/digest/",
        method="POST",
        body=b"abc",
        headers=[[b"content-type", b"text/plain"], [b"content-length", b"20000"]],
    )
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000):
        messages = run_view(layer, message)
    assert messages[0]["status"] == 400


def test_multipart_upload_past_data_limit_is_accepted(layer):
    """A multipart file upload is not capped by DATA_UPLOAD_MAX_MEMORY_SIZE (Django limits fields, not files)."""
    boundary = b"XyZ"
    data = b"z" * 50_000
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--XyZ--\r\n"
    )
    body_channel = layer.new_channel("http.request.body?")
    layer.send(body_channel, {"content": body[20:], "more_content": False})
    message = http_message(
        layer,
        path="/upload/",
        method="POST",
        body=body[:20],
        body_channel=body_channel,
        headers=[
            [b"content-type", b"multipart/form-data; boundary=" + boundary],
            [b"content-length", str(len(body)).encode()],
        ],
    )
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000, FILE_UPLOAD_MAX_MEMORY_SIZE=1000):
        result = json_of(run_view(layer, message))
    assert result == {"name": "a.bin", "length": 50_000, "sha1": hashlib.sha1(data).hexdigest(), "field": "value"}


def test_view_consumer_gives_up_on_full_reply_channel(caplog, monkeypatch):
    """A reply channel that stays full is retried on the FULL back-off for reply_full_timeout, then the response
    is dropped with a warning."""
    fake = FakeTime().install(monkeypatch, ViewConsumer)
    layer = ChannelLayerWrapper(MemoryChannelLayer(channel_capacity={"test.response!": 1}), "default", [])
    layer.send(REPLY, {"status": 200})  # fills it
    consumer = ViewConsumer()
    with caplog.at_level(logging.WARNING, "worker.handler"):
        consumer(http_message(layer, path="/big/", query=b"size=10"))
    assert fake.sleeps[:4] == [0.01, 0.02, 0.04, 0.08] and max(fake.sleeps) == 0.5
    assert sum(fake.sleeps) == pytest.approx(ViewConsumer.reply_full_timeout)
    assert "test.response!abc stayed full for 30s" in caplog.text


def test_view_consumer_retries_until_space(caplog):
    """While the reply channel drains, every response message still arrives in order (ChannelFull retried)."""
    layer = ChannelLayerWrapper(MemoryChannelLayer(channel_capacity={"test.response!": 1}), "default", [])
    got: list[dict] = []
    done = threading.Event()

    def drain() -> None:
        while not done.is_set() or len(got) < 6:
            channel, message = layer.receive(["test.response!"])
            if channel is None:
                time.sleep(0.01)
                continue
            got.append(message)
            if not message.get("more_content", False):
                return

    reader = threading.Thread(target=drain)
    reader.start()
    ViewConsumer()(http_message(layer, path="/big/", query=b"size=3145728"))
    done.set()
    reader.join(10)
    assert len(got) == 6 and sum(len(m["content"]) for m in got) == 3 * 1024 * 1024


def _static_consumer_run(layer, path):
    from worker.staticfiles import StaticFilesConsumer

    StaticFilesConsumer()(http_message(layer, path=path))
    return replies(layer)


def test_static_files_consumer_serves_static_url(layer):
    """StaticFilesConsumer answers paths under STATIC_URL from the staticfiles finders."""
    messages = _static_consumer_run(layer, "/static/css/site.css")
    assert messages[0]["status"] == 200 and b"teal" in body_of(messages)


def test_static_files_consumer_passes_other_paths_to_views(layer):
    """Paths outside STATIC_URL go to the normal views."""
    messages = _static_consumer_run(layer, "/echo/")
    assert messages[0]["status"] == 200 and json_of(messages)["path"] == "/echo/"


def test_static_files_missing_file_debug_404(layer):
    """A missing static file is Django's technical 404 page under DEBUG."""
    with override_settings(DEBUG=True):
        messages = _static_consumer_run(layer, "/static/css/missing.css")
    assert messages[0]["status"] == 404 and b"missing.css" in body_of(messages)


def test_streamed_chunks_run_at_most_stream_window_ahead(tmp_path):
    """A streamed response's later chunks wait while the reply list holds stream_window (4) messages."""
    assert ViewConsumer.stream_window == 4
    layer = ChannelLayerWrapper(SQLiteChannelLayer(path=str(tmp_path / "layer.db")), "default", [])
    got: list[dict] = []
    deepest = 0

    def slow_reader() -> None:
        nonlocal deepest
        while True:
            deepest = max(deepest, layer.channel_statistics("test.response!").get("messages_pending", 0))
            channel, message = layer.receive(["test.response!"])
            if channel is None:
                time.sleep(0.02)
                continue
            got.append(message)
            if not message.get("more_content", False):
                return
            time.sleep(0.02)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    ViewConsumer()(http_message(layer, path="/big/", query=b"size=%d" % (12 * 512 * 1024)))
    reader.join(10)
    assert sum(len(m.get("content", b"")) for m in got) == 12 * 512 * 1024
    assert 2 <= deepest <= 4, deepest


def test_window_gives_way_when_nobody_drains(tmp_path):
    """With no reader, chunks past the window fall back to the channel's capacity after stream_window_wait."""
    layer = ChannelLayerWrapper(SQLiteChannelLayer(path=str(tmp_path / "layer.db")), "default", [])
    consumer = ViewConsumer()
    consumer.stream_window_wait = 0.05
    consumer(http_message(layer, path="/big/", query=b"size=%d" % (6 * 512 * 1024)))
    assert sum(len(m.get("content", b"")) for m in replies(layer)) == 6 * 512 * 1024


def test_a_client_that_never_reads_costs_a_worker_at_most_stream_pause_limit(tmp_path):
    """A stream whose client stays paused waits stream_pause_limit in all, then sends on (never pins the worker)."""
    from channellayer import ChannelPaused

    class AlwaysPaused(SQLiteChannelLayer):
        def _push_window(self, channel, target, payload, capacity):
            raise ChannelPaused(f"the connection behind {channel!r} is not reading")

    layer = ChannelLayerWrapper(AlwaysPaused(path=str(tmp_path / "layer.db")), "default", [])
    consumer = ViewConsumer()
    consumer.stream_pause_limit = 0.3
    started = time.monotonic()
    consumer(http_message(layer, path="/big/", query=b"size=%d" % (4 * 512 * 1024)))
    took = time.monotonic() - started
    assert sum(len(m.get("content", b"")) for m in replies(layer)) == 4 * 512 * 1024
    assert 0.3 <= took < 3, took  # the budget is for the whole response, not per chunk
