"""Helpers for the interface-server integration tests: start the real ``daphne`` script and the echo worker."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tests.support.processes import ManagedProcess, start_server, wait_for_log

ROOT = Path(__file__).resolve().parents[2]
DAPHNE = str(Path(sys.executable).parent / "daphne")
WORKER = str(ROOT / "tests" / "integration" / "is_echo_worker.py")


def env_for(redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["IS_REDIS_URL"] = redis_url
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def tcp_port(port: int) -> list[str]:
    """The default endpoint: ``-p PORT`` on 127.0.0.1."""
    return ["-p", str(port)]


class Daphne:
    """A running ``daphne`` process, listening on the endpoint ``listen(port)`` names (a free port).

    ``listen=None``: no port of its own (only the UNIX sockets or ``--fd`` descriptors in ``args``).
    """

    def __init__(
        self,
        redis_url: str,
        *args: str,
        listen: Callable[[int], Sequence[str]] | None = tcp_port,
        env: dict[str, str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        app = "tests.integration.is_layer:channel_layer"
        env = env or env_for(redis_url)
        if listen is None:
            self.process = ManagedProcess("daphne", [DAPHNE, *args, app], env=env, cwd=str(ROOT), pass_fds=pass_fds)
            self.port = 0
        else:
            endpoint = listen
            self.process = start_server(
                "daphne",
                lambda port: [DAPHNE, *endpoint(port), *args, app],
                env=env,
                cwd=str(ROOT),
                pass_fds=pass_fds,
                timeout=20,
            )
            self.port = self.process.port or 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> int | None:
        return self.process.stop()


def start_worker(redis_url: str, **extra: str) -> ManagedProcess:
    worker = ManagedProcess("is-worker", [sys.executable, WORKER], env=env_for(redis_url, **extra), cwd=str(ROOT))
    wait_for_log(worker, "worker ready")
    return worker


def raw_exchange(port: int, data: bytes, timeout: float = 5.0, host: str = "127.0.0.1") -> bytes:
    """Send ``data`` on a new TCP connection and read until the server closes it (or ``timeout``)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock, timeout)


def read_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    with contextlib.suppress(socket.timeout, ConnectionResetError):
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            chunks.append(piece)
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


@contextlib.contextmanager
def stopped_at_end(*processes: ManagedProcess | Daphne) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.stop()


def raw_websocket(port: int, path: str = "/ws/raw", timeout: float = 10.0) -> socket.socket:
    """A TCP socket that completed a WebSocket handshake (101) by hand, for sending broken frames."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        piece = sock.recv(1)
        if not piece:
            raise ConnectionError(f"closed during handshake: {head!r}")
        head += piece
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head!r}")
    return sock


def masked_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """A client frame (masked) with any header bits, valid or not."""
    mask = b"\x01\x02\x03\x04"
    first = (0x80 if fin else 0) | rsv | opcode
    length = len(payload)
    if length < 126:
        header = bytes([first, 0x80 | length])
    elif length < 65536:
        header = bytes([first, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first, 0x80 | 127]) + length.to_bytes(8, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close_code_of(sock: socket.socket, timeout: float = 10.0) -> int | None:
    """Read frames until a close frame; return its code (None if the socket ends without one)."""
    data = read_all(sock, timeout)
    offset = 0
    while offset + 2 <= len(data):
        opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
        offset += 2
        if length == 126:
            length = int.from_bytes(data[offset : offset + 2], "big")
            offset += 2
        elif length == 127:
            length = int.from_bytes(data[offset : offset + 8], "big")
            offset += 8
        if opcode == 0x8:
            return int.from_bytes(data[offset : offset + 2], "big")
        offset += length
    return None
