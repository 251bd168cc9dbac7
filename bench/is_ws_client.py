"""A lean WebSocket client for the interface-server benchmark (stdlib only; run as its own process).

``hold``: open ``--count`` sockets (raw asyncio protocols doing the RFC 6455 handshake, answering
pings, nothing else), print ``{"opened": n, "failed": m, "seconds": s}``, then keep them open until
a line arrives on stdin, close them, and print ``{"closed": n}``. Connections come from rotating
source addresses 127.0.0.2–127.0.0.33 so repeated rounds do not run out of ephemeral ports.

``echo``: one socket, ``--count`` text frames sent one at a time; prints the round-trip times'
median, p90 and p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import struct
import sys
import time

SOURCES = [f"127.0.0.{i}" for i in range(2, 34)]


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN set, masked as RFC 6455 requires of clients)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class Client(asyncio.Protocol):
    """One WebSocket: handshake, then parse server frames; pings get pongs, text goes to ``on_text``."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.opened: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.on_text: asyncio.Queue[str] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            self.upgraded = head.startswith(b"HTTP/1.1 101")
            if not self.opened.done():
                self.opened.set_result(self.upgraded)
            if not self.upgraded:
                self.transport.close()  # type: ignore[union-attr]
                return
        self._frames()

    def _frames(self) -> None:
        while len(self.buffer) >= 2:
            opcode = self.buffer[0] & 0x0F
            length = self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length = struct.unpack_from("!H", self.buffer, 2)[0]
                offset = 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length = struct.unpack_from("!Q", self.buffer, 2)[0]
                offset = 10
            if len(self.buffer) < offset + length:
                return
            payload = bytes(self.buffer[offset : offset + length])
            del self.buffer[: offset + length]
            if opcode == 0x9:
                self.transport.write(masked_frame(0xA, payload))  # type: ignore[union-attr]
            elif opcode == 0x8:
                self.transport.close()  # type: ignore[union-attr]
            elif opcode == 0x1 and self.on_text is not None:
                self.on_text.put_nowait(payload.decode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_result(False)
        if not self.closed.done():
            self.closed.set_result(True)


async def open_one(
    host: str, port: int, path: str, index: int, gate: asyncio.Semaphore, timeout: float
) -> Client | None:
    loop = asyncio.get_running_loop()
    async with gate:
        try:
            _, client = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Client(host, port, path), host, port, local_addr=(SOURCES[index % len(SOURCES)], 0)
                ),
                timeout,
            )
            if await asyncio.wait_for(client.opened, timeout):
                return client
            client.transport.close()  # type: ignore[union-attr]
        except (OSError, asyncio.TimeoutError):
            pass
    return None


async def hold(args: argparse.Namespace) -> None:
    started = time.monotonic()
    gate = asyncio.Semaphore(args.concurrency)
    results = await asyncio.gather(
        *(open_one(args.host, args.port, args.path, i, gate, args.timeout) for i in range(args.count))
    )
    clients = [c for c in results if c is not None]
    print(
        json.dumps(
            {
                "opened": len(clients),
                "failed": args.count - len(clients),
                "seconds": round(time.monotonic() - started, 3),
            }
        ),
        flush=True,
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    alive = sum(1 for c in clients if not c.closed.done())
    for client in clients:
        client.transport.close()  # type: ignore[union-attr]
    await asyncio.sleep(0.5)
    print(json.dumps({"closed": len(clients), "alive_before_close": alive}), flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def echo(args: argparse.Namespace) -> None:
    client = await open_one(args.host, args.port, args.path, 0, asyncio.Semaphore(1), args.timeout)
    if client is None:
        raise SystemExit("echo: the WebSocket was not accepted")
    client.on_text = asyncio.Queue()
    times = []
    for i in range(args.warmup + args.count):
        text = f"{i}:benchmark-payload"
        sent = time.perf_counter()
        client.transport.write(masked_frame(0x1, text.encode()))  # type: ignore[union-attr]
        reply = await asyncio.wait_for(client.on_text.get(), args.timeout)
        if reply != text:
            raise SystemExit(f"echo: sent {text!r}, got {reply!r}")
        if i >= args.warmup:
            times.append((time.perf_counter() - sent) * 1000)
    client.transport.close()  # type: ignore[union-attr]
    print(
        json.dumps(
            {
                "count": len(times),
                "median_ms": statistics.median(times),
                "p90_ms": percentile(times, 0.9),
                "p99_ms": percentile(times, 0.99),
                "mean_ms": statistics.fmean(times),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["hold", "echo"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ws/")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    raise_fd_limit()
    asyncio.run(hold(args) if args.mode == "hold" else echo(args))


if __name__ == "__main__":
    main()
