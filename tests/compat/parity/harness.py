"""Harness of the message-parity suite (tests/compat/test_is_message_parity.py).

Starts legacy Daphne 1.4.2 and our daphne, each on its own redis-server, and gives the tests the
client side (raw HTTP bytes, websocket-client) and the worker side (our Redis layer) for both.
Normalising replaces only what must differ between two servers, and checks each value first.
"""

from __future__ import annotations

import copy
import os
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

from channellayer import get_channel_layer
from tests.support.processes import ManagedProcess, RedisServer, start_server

__all__ = [
    "BODY_CHANNEL",
    "OK_REPLY",
    "OUR_DAPHNE",
    "PARITY",
    "Pair",
    "RAW_UPGRADE",
    "REPLY_CHANNEL",
    "ROOT",
    "RawResponse",
    "Side",
    "WsOpen",
    "access_lines",
    "assert_same",
    "both",
    "connect",
    "connect_unix",
    "dechunk",
    "fill",
    "handshake_headers",
    "http_roundtrip",
    "normalise",
    "raw_handshake",
    "read_response",
    "received_frames",
    "request_message",
    "start_side",
    "ws_open",
]

ROOT = Path(__file__).resolve().parents[3]
PARITY = Path(__file__).resolve().parent
OUR_DAPHNE = str(Path(sys.executable).parent / "daphne")
REPLY_CHANNEL = re.compile(r"^daphne\.response\.[A-Za-z]{10}![A-Za-z]{10}$")
BODY_CHANNEL = re.compile(r"^http\.request\.body\?.+$")


@dataclass
class Side:
    """One server of a pair: its redis-server, its daphne process, and our layer on that Redis."""

    name: str
    redis: RedisServer
    port: int
    process: ManagedProcess
    layer: Any = field(repr=False)
    unix_path: str = ""

    def receive(self, channel: str, timeout: float = 8.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got, message = self.layer.receive([channel], block=True)
            if got is not None:
                return message  # type: ignore[no-any-return]
        raise AssertionError(f"{self.name}: nothing on {channel} after {timeout}s\n{self.process.log()[-3000:]}")

    def receive_for(self, channel: str, reply_channel: str, timeout: float = 8.0) -> dict[str, Any]:
        """The next message on ``channel`` about ``reply_channel``; messages left over by earlier
        tests (other sockets) are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(channel, max(deadline - time.monotonic(), 0.1))
            if message.get("reply_channel") == reply_channel:
                return message

    def nothing_on(self, channel: str, wait: float = 0.4) -> bool:
        time.sleep(wait)
        got, message = self.layer.receive([channel], block=False)
        assert got is None, f"{self.name}: unexpected message on {channel}: {message!r}"
        return True

    def send(self, channel: str, message: dict[str, Any]) -> None:
        self.layer.send(channel, message)


Pair = dict[str, Side]


def start_side(name: str, config: str, options: list[str], venv: Path) -> Side:
    """One daphne listening on 127.0.0.1:<free port> and on a UNIX socket (``-e unix:``), with a
    redis-server of its own; returned once it listens on both."""
    redis_server = RedisServer()
    unix_path = os.path.join(tempfile.mkdtemp(prefix="parity-"), "daphne.sock")
    env = {**os.environ, "PARITY_REDIS_URL": redis_server.url, "PYTHONPATH": f"{PARITY}:{ROOT}"}
    if name == "legacy":
        daphne, app = str(venv / "bin" / "daphne"), "legacy_layer:channel_layer"
        env["PYTHONPATH"] = str(PARITY)
    else:
        daphne, app = OUR_DAPHNE, "ours_layer:channel_layer"
    process = start_server(
        f"{name}-daphne-{config}",
        lambda port: [daphne, "-b", "127.0.0.1", "-p", str(port), "-e", f"unix:{unix_path}", app, *options],
        env=env,
        cwd=str(PARITY),
        timeout=30,
    )
    deadline = time.monotonic() + 10
    while not os.path.exists(unix_path):
        assert time.monotonic() < deadline, f"{name} never listened on {unix_path}\n{process.log()[-3000:]}"
        time.sleep(0.05)
    layer = get_channel_layer("redis", {"hosts": [redis_server.url]})
    return Side(name, redis_server, process.port or 0, process, layer, unix_path)


# ----------------------------------------------------------------------------------------------
# Normalisation: only what must differ between two servers on two ports.


def normalise(message: dict[str, Any], side: Side, client_port: int | None = None) -> dict[str, Any]:
    """A copy of ``message`` with reply channel randoms, ports and Sec-WebSocket-Key replaced by markers.

    Each replaced value is checked first, so normalising never hides a wrong value.
    """
    out = copy.deepcopy(message)
    if "reply_channel" in out:
        assert REPLY_CHANNEL.match(out["reply_channel"]), out["reply_channel"]
        out["reply_channel"] = "<reply>"
    if "body_channel" in out:
        assert BODY_CHANNEL.match(out["body_channel"]), out["body_channel"]
        out["body_channel"] = "<body>"
    if out.get("server") is not None:
        assert out["server"] == ["127.0.0.1", side.port], out["server"]
        out["server"] = ["127.0.0.1", "<port>"]
    client = out.get("client")
    # The client's own port: checked exactly when the test knows it, else any port of 127.0.0.1
    # (a rejected WebSocket's socket is gone before the test can ask it).
    if (
        client is not None
        and client[0] == "127.0.0.1"
        and (client[1] == client_port or (client_port is None and isinstance(client[1], int) and client[1] > 0))
    ):
        out["client"] = ["127.0.0.1", "<client-port>"]
    if "headers" in out:
        headers = []
        for name, value in out["headers"]:
            if name in (b"host", b"origin"):  # websocket-client's default Origin names the port too
                value = value.replace(b":%d" % side.port, b":<port>")
            elif name == b"sec-websocket-key":
                assert re.fullmatch(rb"[A-Za-z0-9+/]{22}==", value), value
                value = b"<key>"
            headers.append([name, value])
        out["headers"] = headers
    return out


def both(pair: Pair, run: Callable[[Side], Any]) -> dict[str, Any]:
    """Run the same client traffic against legacy, then ours."""
    return {name: run(side) for name, side in pair.items()}


# ----------------------------------------------------------------------------------------------
# Raw HTTP: requests as exact bytes, responses read and split without interpretation.


@dataclass
class RawResponse:
    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes  # as framed on the wire (chunk sizes included)

    def normalised(self) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
        """Status line, header lines in order without Date/Server, and the body as framed.

        Daphne 1.4.2 sent no Date or Server header at all (Twisted's bare http.Request); ours sends
        both, which is allowed, so they are left out. Everything else is compared byte for byte.
        """
        headers = [(name, value) for name, value in self.headers if name.lower() not in (b"date", b"server")]
        return self.status_line, headers, self.body

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


def read_response(sock: socket.socket, buffer: bytearray) -> RawResponse:
    """Read one response: head, then a Content-Length body, a chunked body (kept framed) or up to EOF."""

    def fill() -> bool:
        data = sock.recv(65536)
        buffer.extend(data)
        return bool(data)

    while b"\r\n\r\n" not in buffer:
        if not fill():
            raise AssertionError(f"connection closed before a response head: {bytes(buffer)!r}")
    end = buffer.index(b"\r\n\r\n")
    head = bytes(buffer[:end]).split(b"\r\n")
    del buffer[: end + 4]
    headers = [(line.split(b":", 1)[0], line.split(b":", 1)[1].strip()) for line in head[1:]]
    response = RawResponse(head[0], headers, b"")
    length = response.header(b"content-length")
    if length is not None:
        while len(buffer) < int(length):
            if not fill():
                break
        response.body = bytes(buffer[: int(length)])
        del buffer[: int(length)]
    elif response.header(b"transfer-encoding") == b"chunked":
        while True:
            while b"\r\n" not in buffer:
                assert fill(), f"connection closed inside a chunk size: {bytes(buffer)!r}"
            size = int(bytes(buffer[: buffer.index(b"\r\n")]), 16)
            needed = buffer.index(b"\r\n") + 2 + size + 2
            while len(buffer) < needed:
                assert fill(), "connection closed inside a chunk"
            response.body += bytes(buffer[:needed])
            del buffer[:needed]
            if size == 0:
                break
    else:
        while fill():
            pass
        response.body = bytes(buffer)
        buffer.clear()
    return response


def connect(side: Side) -> socket.socket:
    return socket.create_connection(("127.0.0.1", side.port), timeout=10)


def http_roundtrip(side: Side, raw: bytes, replies: list[dict[str, Any]]) -> tuple[dict[str, Any], RawResponse]:
    """Send ``raw``, take the ``http.request`` off the layer, send ``replies``, read the response."""
    with connect(side) as sock:
        sock.sendall(raw)
        message = side.receive("http.request")
        for reply in replies:
            side.send(message["reply_channel"], reply)
        response = read_response(sock, bytearray())
        return normalise(message, side, sock.getsockname()[1]), response


def request_message(side: Side, raw: bytes) -> dict[str, Any]:
    """The normalised ``http.request`` for ``raw``; answered with a small 200 so the server is left clean."""
    message, response = http_roundtrip(side, raw, [OK_REPLY])
    assert response.status_line == b"HTTP/1.1 200 OK" or response.status_line == b"HTTP/1.0 200 OK"
    return message


OK_REPLY: dict[str, Any] = {
    "status": 200,
    "headers": [(b"Content-Type", b"text/plain"), (b"Content-Length", b"2")],
    "content": b"ok",
}


def assert_same(results: dict[str, Any]) -> Any:
    assert results["ours"] == results["legacy"], f"\nlegacy: {results['legacy']!r}\nours:   {results['ours']!r}"
    return results["legacy"]


@dataclass
class WsOpen:
    """A handshake driven by the test: the client in a thread, the connect message, the outcome."""

    connect: dict[str, Any]
    ws: websocket.WebSocket | None
    error: Exception | None

    def client_port(self) -> int | None:
        return self.ws.sock.getsockname()[1] if self.ws is not None and self.ws.sock is not None else None


def ws_open(
    side: Side, path: str, replies: list[dict[str, Any]] | None = None, *, delay: float = 0.0, **options: Any
) -> WsOpen:
    """Start a handshake, take ``websocket.connect`` off the layer, send ``replies`` (accept by default)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["ws"] = websocket.create_connection(f"ws://127.0.0.1:{side.port}{path}", timeout=10, **options)
        except Exception as exc:  # the outcome under test (403 and the like)
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    message = side.receive("websocket.connect")
    time.sleep(delay)
    for reply in [{"accept": True}] if replies is None else replies:
        side.send(message["reply_channel"], reply)
    thread.join(15)
    assert not thread.is_alive(), f"{side.name}: handshake still running"
    return WsOpen(message, outcome.get("ws"), outcome.get("error"))


def handshake_headers(ws: websocket.WebSocket) -> dict[str, str]:
    """The 101 response headers that must agree (the accept hash follows the random key)."""
    return {
        name: value for name, value in ws.getheaders().items() if name not in ("date", "server", "sec-websocket-accept")
    }


def received_frames(ws: websocket.WebSocket, until_close: bool = True) -> list[tuple[int, bytes]]:
    """(opcode, payload) of every frame the client gets, up to and including a close frame."""
    frames = []
    while True:
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except (ConnectionResetError, websocket.WebSocketConnectionClosedException) as exc:
            frames.append((-1, type(exc).__name__.encode()))  # the TCP connection ended without a close frame
            return frames
        frames.append((opcode, data))
        if opcode == websocket.ABNF.OPCODE_CLOSE or not until_close:
            return frames


def access_lines(side: Side, marker: str) -> list[str]:
    """The access-log lines mentioning ``marker``, with the client port and the date normalised."""
    time.sleep(0.2)
    lines = [line for line in side.process.log().splitlines() if marker in line and " - - [" in line]
    return [re.sub(r"^127\.0\.0\.1:\d+ - - \[[^]]+\]", "127.0.0.1:<port> - - [<date>]", line) for line in lines]


def fill(side: Side, channel: str) -> None:
    """Put ``capacity`` dummy messages on ``channel`` so the server's next send raises ChannelFull."""
    side.layer.send_many([(channel, {"filler": True})] * side.layer.get_capacity(channel))


RAW_UPGRADE = (
    b"GET /ws/raw/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n\r\n"
)


def raw_handshake(side: Side, replies: list[dict[str, Any]] | None) -> bytes:
    """Send RAW_UPGRADE, answer websocket.connect with ``replies`` (None: it is never sent), return what came back."""
    with connect(side) as sock:
        sock.sendall(RAW_UPGRADE)
        if replies is not None:
            message = side.receive("websocket.connect")
            for reply in replies:
                side.send(message["reply_channel"], reply)
        sock.settimeout(1.0)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if data.startswith(b"HTTP/1.1 101") and data.endswith(b"\r\n\r\n"):
                    break
        except TimeoutError:
            pass
    return re.sub(rb"\r\nDate: [^\r]*", b"", data)


def dechunk(body: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, body = out + rest[:size], rest[size + 2 :]


def connect_unix(side: Side) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(side.unix_path)
    return sock
