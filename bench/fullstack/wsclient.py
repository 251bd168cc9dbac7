"""asyncio clients run inside the harness process: WebSockets (bench/is_ws_client.py's raw RFC 6455
protocol) and a keep-alive HTTP/1.1 client, all timed with ``time.monotonic()``.

``time.monotonic()`` is CLOCK_MONOTONIC on Linux, one clock for every process on the machine, so a
sender process can stamp a message with it and a client here can subtract.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench.is_ws_client import SOURCES, Client, masked_frame


class TracedClient(Client):
    """A Client that keeps the server's status line, so a refused handshake says why (503, 403...)."""

    status_line = ""

    def data_received(self, data: bytes) -> None:
        if not self.upgraded and not self.status_line:
            self.status_line = bytes(self.buffer + data).split(b"\r\n", 1)[0].decode("latin-1")
        super().data_received(data)


class Inbox:
    """Stands in for Client.on_text: keeps (receive time, text) and wakes a waiter."""

    def __init__(self) -> None:
        self.items: list[tuple[float, str]] = []
        self.event = asyncio.Event()

    def put_nowait(self, text: str) -> None:
        self.items.append((time.monotonic(), text))
        self.event.set()

    async def next(self, timeout: float) -> tuple[float, str]:
        while not self.items:
            self.event.clear()
            await asyncio.wait_for(self.event.wait(), timeout)
        return self.items.pop(0)


@dataclass
class Opened:
    clients: list[Client]
    failed: int
    accept_times: list[float] = field(default_factory=list)  # seconds from the start, per accepted socket
    refusals: dict[str, int] = field(default_factory=dict)  # why sockets failed: a status line, or an error
    seconds: float = 0.0


async def open_one(
    port: int, path: str, index: int, timeout: float, started: float
) -> tuple[Client | None, float | str]:
    """(client, seconds from ``started`` to its 101), or (None, why it failed)."""
    loop = asyncio.get_running_loop()
    try:
        _, client = await asyncio.wait_for(
            loop.create_connection(
                lambda: TracedClient("127.0.0.1", port, path),
                "127.0.0.1",
                port,
                local_addr=(SOURCES[index % len(SOURCES)], 0),
            ),
            timeout,
        )
        if await asyncio.wait_for(client.opened, timeout):
            client.on_text = Inbox()  # type: ignore[assignment]
            return client, time.monotonic() - started
        client.transport.close()  # type: ignore[union-attr]
        return None, client.status_line or "closed before any response"
    except asyncio.TimeoutError:
        return None, f"no 101 within {timeout:g} s"
    except OSError as exc:
        return None, type(exc).__name__


async def open_many(port: int, path: str, count: int, concurrency: int, timeout: float = 30.0) -> Opened:
    """Open ``count`` WebSockets with at most ``concurrency`` handshakes in flight (``count`` = all at once)."""
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()

    async def gated(index: int) -> tuple[Client | None, float | str]:
        async with gate:
            return await open_one(port, path, index, timeout, started)

    results = await asyncio.gather(*(gated(i) for i in range(count)))
    opened = Opened([c for c, _ in results if c is not None], sum(1 for c, _ in results if c is None))
    opened.accept_times = sorted(float(t) for c, t in results if c is not None)
    for client, why in results:
        if client is None:
            opened.refusals[str(why)] = opened.refusals.get(str(why), 0) + 1
    opened.seconds = time.monotonic() - started
    return opened


async def open_all(
    port: int, path: str, count: int, concurrency: int = 50, attempts: int = 4, timeout: float = 30.0
) -> Opened:
    """Set-up for a scenario that needs ``count`` open sockets: sockets that were refused (a full
    ``websocket.connect`` channel, a full backlog) are tried again, up to ``attempts`` passes."""
    opened = await open_many(port, path, count, concurrency, timeout)
    for _ in range(attempts - 1):
        if not opened.failed:
            break
        await asyncio.sleep(0.5)
        more = await open_many(port, path, opened.failed, concurrency, timeout)
        opened.clients += more.clients
        opened.failed = more.failed
    return opened


def close_all(clients: list[Client]) -> None:
    for client in clients:
        if client.transport is not None:
            client.transport.close()


def send_text(client: Client, text: str) -> None:
    client.transport.write(masked_frame(0x1, text.encode()))  # type: ignore[union-attr]


def inbox(client: Client) -> Inbox:
    return client.on_text  # type: ignore[return-value]


async def echo_loop(
    client: Client, tag: str, until: float, warm_until: float, rtts: list[float], timeout: float = 10.0
) -> tuple[int, int]:
    """Send a frame, wait for its echo, repeat until ``until``; RTTs (ms) after ``warm_until`` are kept.

    Returns (sent, received); an echo that does not arrive within ``timeout`` ends the loop as lost.
    """
    sent = received = 0
    box = inbox(client)
    while time.monotonic() < until:
        text = f"{tag}-{sent}"
        start = time.monotonic()
        send_text(client, text)
        sent += 1
        try:
            _, reply = await box.next(timeout)
        except asyncio.TimeoutError:
            break
        if reply != text:
            raise RuntimeError(f"echo: sent {text!r}, got {reply!r}")
        received += 1
        if start >= warm_until:
            rtts.append((time.monotonic() - start) * 1000)
    return sent, received


class HttpConn:
    """One keep-alive HTTP/1.1 connection for GET requests (Content-Length, chunked or close-delimited)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
        return await asyncio.wait_for(self._get(path), timeout)

    async def _get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()  # delimited by the close
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers are sent here
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
