"""Resources of a real ``daphne`` process under many or greedy clients: listen backlog, request-body memory.

Real processes only: a redis-server of the session, the interface server started as a command,
the echo worker where a request must be answered, and plain sockets as clients.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import tempfile
import time

import pytest

from tests.integration.is_support import Daphne, masked_frame, raw_websocket, start_worker, status_of

pytestmark = pytest.mark.redis


def _listen_queue(kind: str, match: str) -> int:
    """The listen queue length (``ss`` Send-Q) of the listening socket whose local address contains ``match``."""
    out = subprocess.run(["ss", "-lnH", kind], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if any(field.endswith(match) for field in fields):
            index = 3 if kind == "-x" else 2  # -x has a Netid column first
            return int(fields[index])
    raise AssertionError(f"no listening socket {match!r} in:\n{out}")


def test_backlog_applies_to_every_endpoint(redis_url):
    """--backlog sets the listen queue of -p, -u and adopted --fd sockets alike (the parent chose 5 for the fd)."""
    unix_path = os.path.join(tempfile.mkdtemp(), "backlog.sock")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    fd_port = listener.getsockname()[1]
    fd = listener.fileno()
    server = Daphne(redis_url, "--backlog", "333", "-u", unix_path, "--fd", str(fd), pass_fds=(fd,))
    try:
        listener.close()
        deadline = time.monotonic() + 10
        while not os.path.exists(unix_path):
            assert time.monotonic() < deadline, "never listened on the UNIX socket"
            time.sleep(0.05)
        assert _listen_queue("-t", f":{server.port}") == 333
        assert _listen_queue("-t", f":{fd_port}") == 333
        assert _listen_queue("-x", unix_path) == 333
    finally:
        server.stop()


def test_a_burst_of_3000_connections_is_accepted(redis_url):
    """3,000 connections opened at once are all accepted: each is closed by the server at --header-timeout."""
    server = Daphne(redis_url, "--header-timeout", "1")
    count = 3000
    socks: list[socket.socket] = []
    selector = selectors.DefaultSelector()
    try:
        assert _listen_queue("-t", f":{server.port}") == min(2048, int(open("/proc/sys/net/core/somaxconn").read()))
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", server.port))
            socks.append(sock)
            selector.register(sock, selectors.EVENT_READ)
        # An accepted connection sends nothing and is closed by the server after 1 s (EOF here). One the
        # server never accepted stays open on this side (or is reset): it never reads as a clean EOF.
        closed = 0
        deadline = time.monotonic() + 15
        while closed < count and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                try:
                    data = key.fileobj.recv(16)
                except ConnectionError:
                    data = b"reset"
                assert data == b"", data
                selector.unregister(key.fileobj)
                closed += 1
        assert closed == count
    finally:
        selector.close()
        for sock in socks:
            sock.close()
        server.stop()


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _wait_for_log(server: Daphne, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.process.log().splitlines():
            if text in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the server log:\n{server.process.log()[-3000:]}")


def test_stalled_uploads_stay_within_the_body_budget(redis_url):
    """40 clients stalling after 500 KiB of a 510 KiB body: held bytes stay within --max-buffered-body, the
    clients past it get 503, and once they leave the count is back to 0 and the memory is returned."""
    budget = 8 * 1024 * 1024
    server = Daphne(redis_url, "--max-buffered-body", str(budget), "-v", "2")  # -v 2: the "back to 0" line
    pid = server.process.popen.pid
    clients: list[socket.socket] = []
    try:
        before = _rss(pid)
        head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (510 * 1024)
        refused = 0
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            clients.append(sock)
            try:
                sock.sendall(head + b"u" * (500 * 1024))
            except (BrokenPipeError, ConnectionResetError):
                pass
        time.sleep(0.5)
        peak_rss = _rss(pid)
        for sock in clients:
            sock.setblocking(False)
            try:
                answer = sock.recv(200)
            except BlockingIOError:
                continue
            except ConnectionResetError:  # 503 then close while our bytes were unread: the RST may win
                refused += 1
                continue
            if answer:
                assert status_of(answer) == 503, answer
                refused += 1
        fitting = budget // (500 * 1024)
        assert refused >= 40 - fitting - 1  # at most the budget's worth of bodies is held
        _wait_for_log(server, "reached the budget")
        for sock in clients:
            sock.close()
        line = _wait_for_log(server, "back to 0")
        peak = int(line.split("(peak ")[1].split()[0])
        assert 0 < peak <= budget, line
        assert f"of {budget} bytes" in _wait_for_log(server, "held in memory down to")
        time.sleep(0.3)
        after = _rss(pid)
        # The held bodies were over 7 MiB; at most a quarter of that growth may stay behind.
        assert after - before < max((peak_rss - before) // 4, 2 * 1024 * 1024), (before, peak_rss, after)
    finally:
        for sock in clients:
            sock.close()
        server.stop()


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        piece = sock.recv(count - len(data))
        if not piece:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += piece
    return bytes(data)


def _server_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One unmasked frame from the server: (opcode, payload)."""
    first, second = _recv_exactly(sock, 2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(_recv_exactly(sock, 2), "big")
    elif length == 127:
        length = int.from_bytes(_recv_exactly(sock, 8), "big")
    return first & 0x0F, _recv_exactly(sock, length)


def test_websocket_messages_the_server_accepts_reach_the_worker(redis_url):
    """Around the Redis layer's 1 MiB limit every message is either echoed by the worker or refused by the
    server's own frame limit (1009 "Message larger than ..."), never lost to the layer's MessageTooLarge."""
    from channellayer import get_channel_layer

    worker = start_worker(redis_url)
    server = Daphne(redis_url)  # --max-ws-message 1 MiB, the layer's max_message_size 1 MiB
    try:
        codec = get_channel_layer("redis", {"hosts": [redis_url]}).codec
        envelope = {"reply_channel": "daphne.response.abcdefghij!abcdefghij", "path": "/ws/raw", "order": 1}
        fits = len(codec.encode("websocket.receive", {**envelope, "bytes": b""}))
        layer_boundary = codec.max_message_size - (fits - 2 + 5)  # an empty bin8 is 2 bytes, a bin32 header 5
        codec.encode("websocket.receive", {**envelope, "bytes": b"x" * layer_boundary})  # fits exactly
        outcomes = {}
        for size in (
            layer_boundary - 40,
            layer_boundary - 20,
            layer_boundary - 10,
            layer_boundary,
            layer_boundary + 1,
            1024 * 1024,
        ):
            sock = raw_websocket(server.port)
            payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
            sock.sendall(masked_frame(0x2, payload))
            opcode, data = _server_frame(sock)
            if opcode == 0x2:
                assert data == payload
                outcomes[size] = "echoed"
            else:
                assert opcode == 0x8 and int.from_bytes(data[:2], "big") == 1009, (opcode, data[:60])
                assert data[2:].startswith(b"Message larger than "), data[2:]
                outcomes[size] = "refused"
            sock.close()
        assert outcomes[layer_boundary - 40] == "echoed"
        assert outcomes[layer_boundary + 1] == outcomes[1024 * 1024] == "refused"
        assert "Message too big" not in server.process.log() and "MessageTooLarge" not in server.process.log()
    finally:
        server.stop()
        worker.stop()


def test_a_client_that_never_reads_gives_one_warning(redis_url):
    """A WebSocket client that never reads, sent a stream of group messages, is dropped past
    --write-buffer-limit with one log line (the replies read in the same batch add none)."""
    from channellayer import get_channel_layer

    worker = start_worker(redis_url)
    server = Daphne(redis_url, "--write-buffer-limit", "1000000")
    layer = get_channel_layer("redis", {"hosts": [redis_url]})
    try:
        sock = raw_websocket(server.port, "/ws/slow")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(masked_frame(0x1, b"join:never-reads"))
        time.sleep(0.5)
        for _ in range(400):
            layer.send_group("never-reads", {"text": "x" * 60000})
        _wait_for_log(server, "reads too slowly", timeout=30)
        time.sleep(1)
        lines = [line for line in server.process.log().splitlines() if "reads too slowly" in line]
        assert len(lines) == 1, lines
        sock.close()
    finally:
        layer.close()
        server.stop()
        worker.stop()
