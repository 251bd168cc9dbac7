"""``python -m bench.parser_compare``: our HTTP/1 request parser against httptools (llhttp), by measurement.

Three questions decide which parser the interface server uses (issue 8, item 5):

(a) strictness: the same framing inputs through both; what each refuses or accepts;
(b) CPU per request: parsing typical requests into what the server needs (method, target, version,
    lowercased header list, body, end of message), best of several rounds;
(c) memory per idle socket: the heap held by one parser per keep-alive connection between requests
    (tracemalloc over 10,000 of them, after each parsed one request).

httptools is optional (``pip install httptools``); without it only our column is filled. Prints
markdown tables; docs/interface-server.md quotes a run.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from interfaceserver.errors import ProtocolError
from interfaceserver.http11 import END, RequestHead, RequestParser

try:
    import httptools
except ImportError:  # pragma: no cover - depends on the environment
    httptools = None

CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

#: (label, request bytes, what RFC 9112 asks for: "400", "431", "505" or "ok").
STRICTNESS: list[tuple[str, bytes, str]] = [
    ("bare LF ends chunk-size line", CHUNKED + b"3\nabc\r\n0\r\n\r\n", "400"),
    ("bare LF inside chunk extension", CHUNKED + b"3;a=b\nabc\r\n0\r\n\r\n", "400"),
    ("bare LF after chunk data", CHUNKED + b"3\r\nabc\n0\r\n\r\n", "400"),
    ("space before chunk size", CHUNKED + b" 3\r\nabc\r\n0\r\n\r\n", "400"),
    ("space after chunk size", CHUNKED + b"3 \r\nabc\r\n0\r\n\r\n", "400"),
    ("CR inside chunk extension", CHUNKED + b"3;a=\rb\r\nabc\r\n0\r\n\r\n", "400"),
    ("NUL inside chunk extension", CHUNKED + b"3;a=\x00b\r\nabc\r\n0\r\n\r\n", "400"),
    ("trailer line without colon", CHUNKED + b"3\r\nabc\r\n0\r\nNoColon\r\n\r\n", "400"),
    (
        "2,000 trailer lines (200 KB)",
        CHUNKED + b"3\r\nabc\r\n0\r\n" + b"".join(b"X-T%d: %s\r\n" % (i, b"v" * 90) for i in range(2000)) + b"\r\n",
        "431",
    ),
    ("chunk size with 30 leading zeros", CHUNKED + b"0" * 30 + b"3\r\nabc\r\n0\r\n\r\n", "ok"),
    ("chunk size overflow (17 hex digits)", CHUNKED + b"1" + b"0" * 16 + b"\r\nabc\r\n0\r\n\r\n", "400"),
    ("chunk longer than its size", CHUNKED + b"3\r\nabcd\r\n0\r\n\r\n", "400"),
    ("bare LF in the head", b"GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\n", "400"),
    ("missing Host (HTTP/1.1)", b"GET / HTTP/1.1\r\n\r\n", "400"),
    ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
    ("invalid Host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400"),
    ("HTTP/1.2 (serve as 1.1)", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", "ok"),
    ("HTTP/2.0 in an HTTP/1 request line", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"),
    (
        "Content-Length and Transfer-Encoding",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "400",
    ),
    (
        "two different Content-Lengths",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "400",
    ),
    ("obs-fold header line", b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n", "400"),
    ("space before header colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400"),
]

REQUESTS: dict[str, bytes] = {
    "GET, 8 headers": (
        b"GET /chat/room/42?since=1700000000 HTTP/1.1\r\nHost: example.com\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\nAccept: text/html,*/*;q=0.8\r\n"
        b"Accept-Language: en-GB,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
        b"Cookie: sessionid=abcdef0123456789; csrftoken=0123456789abcdef\r\n"
        b"Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\n\r\n"
    ),
    "POST, 1 KiB body": (
        b"POST /api/items HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1024\r\n\r\n" + b"x" * 1024
    ),
    "POST, chunked 4 x 256 B": (CHUNKED + (b"100\r\n" + b"y" * 256 + b"\r\n") * 4 + b"0\r\n\r\n"),
}


class _Collector:
    """httptools callbacks building what the server needs from a request (as our parser hands it over)."""

    __slots__ = ("url", "headers", "body", "done")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.done = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


def ours(raw: bytes) -> str:
    """What our parser answers to ``raw``: ``ok`` or the status and message."""
    try:
        events = RequestParser(max_head_size=16384, max_headers=100).feed(raw)
    except ProtocolError as exc:
        return f"{exc.status} {exc.detail}"
    return "ok" if events and events[-1] is END else "incomplete"


def llhttp(raw: bytes) -> str:
    """What httptools answers to ``raw``: ``ok``, ``incomplete`` or the error (uvicorn answers 400 to any)."""
    if httptools is None:
        return "n/a"
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        return "ok"
    except httptools.HttpParserError as exc:
        return f"400 {exc}"
    return "ok" if collector.done else "incomplete"


def _verdict(answer: str, expected: str) -> str:
    return "yes" if answer.split()[0] == expected else "**no**"


def strictness() -> str:
    lines = ["| input | RFC 9112 | ours | strict | httptools (llhttp) | strict |", "|---|---|---|---|---|---|"]
    for label, raw, expected in STRICTNESS:
        a, b = ours(raw), llhttp(raw)
        lines.append(f"| {label} | {expected} | {a} | {_verdict(a, expected)} | {b} | {_verdict(b, expected)} |")
    return "\n".join(lines)


def _ours_once(raw: bytes) -> None:
    parser = RequestParser()
    events = parser.feed(raw)
    head = events[0]
    assert isinstance(head, RequestHead) and events[-1] is END


def _llhttp_once(raw: bytes) -> None:
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    parser.feed_data(raw)
    # What RequestHead computes besides the raw fields: version, keep-alive, framing of the body.
    parser.get_method(), parser.get_http_version(), parser.should_keep_alive()
    assert collector.done


def _per_request(once: Callable[[bytes], None], raw: bytes, count: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            once(raw)
        best = min(best, (time.process_time() - started) / count)
    return best * 1e6


def cpu(count: int, rounds: int) -> str:
    lines = ["| request | ours (µs) | httptools (µs) |", "|---|---|---|"]
    for label, raw in REQUESTS.items():
        a = _per_request(_ours_once, raw, count, rounds)
        b = _per_request(_llhttp_once, raw, count, rounds) if httptools is not None else float("nan")
        lines.append(f"| {label} | {a:.1f} | {b:.1f} |")
    return "\n".join(lines)


def _idle_bytes(make: Callable[[], Any], count: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = [make() for _ in range(count)]
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del kept
    return size / count - 8  # the list slot holding each one is not the parser's


def _ours_idle() -> Any:
    parser = RequestParser()
    parser.feed(REQUESTS["GET, 8 headers"])
    parser.next_request()
    return parser


def _llhttp_idle() -> Any:
    # Between requests a connection keeps the parser and the object receiving its callbacks.
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    parser.feed_data(REQUESTS["GET, 8 headers"])
    collector.headers, collector.body, collector.url = [], [], b""
    return parser, collector


def memory(count: int) -> str:
    a = _idle_bytes(_ours_idle, count)
    b = _idle_bytes(_llhttp_idle, count) if httptools is not None else float("nan")
    return (
        "| parser per idle keep-alive socket | ours (bytes) | httptools (bytes) |\n|---|---|---|\n"
        f"| after one request, tracemalloc over {count:,} | {a:.0f} | {b:.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parser_compare", description=__doc__)
    parser.add_argument("--count", type=int, default=20000, help="requests per CPU round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    version = getattr(httptools, "__version__", "not installed")
    print(f"httptools {version}, Python {sys.version.split()[0]}\n")
    print("(a) strictness\n\n" + strictness() + "\n")
    print("(b) CPU per request (best of rounds)\n\n" + cpu(args.count, args.rounds) + "\n")
    print("(c) memory per idle socket\n\n" + memory(10000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
