"""Run the example chat project as real, separate processes: one interface server and two workers.

    python examples/demo.py [--port 8000] [--workers 2] [--check]

The channel layer is the embedded SQLite layer (a file under examples/chat/.run/), so nothing needs
installing; set REDIS_URL=redis://host:port/0 to use Redis instead. ``--check`` starts everything on a
free port, drives it (an HTTP page with a session, two WebSocket clients chatting, both workers
serving) and exits 0 on success: the tests run the demo this way.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "chat"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, cwd=PROJECT, env=env)


def wait_healthy(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{process.args} exited with {process.returncode} during start-up")
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the demo did not answer on {url} within {timeout} s")
        time.sleep(0.2)


def check(url: str) -> None:
    """Drive the running demo like a person would; raise AssertionError on any misbehaviour."""
    import websocket  # websocket-client, installed by `make demo` / `make test`

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    pages = [opener.open(url, timeout=10).read().decode() for _ in range(2)]
    assert "channels-classic chat" in pages[0], pages[0][:200]
    assert "visit number 2" in pages[1], "the session did not survive across requests"
    ws_url = url.replace("http://", "ws://") + "chat/lobby/"
    alice = websocket.create_connection(ws_url, timeout=10)
    bob = websocket.create_connection(ws_url, timeout=10)
    alice.send("hello from alice")
    for client in (alice, bob):
        while True:
            data = json.loads(client.recv())
            if "message" in data:
                assert data["message"] == "hello from alice", data
                break
    alice.close()
    bob.close()
    pids = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        with urllib.request.urlopen(url + "healthz", timeout=10) as response:
            pids.add(json.loads(response.read())["worker_pid"])
    assert len(pids) == 2, f"expected both workers to serve requests, saw pids {pids}"
    print(f"demo check passed: page + session, WebSocket chat, {len(pids)} workers")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check", action="store_true", help="start on a free port, self-test, stop, exit 0")
    args = parser.parse_args()
    port = free_port() if args.check else args.port
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "chatsite.settings"}
    if args.check:
        env.setdefault("CHAT_RUN_DIR", tempfile.mkdtemp(prefix="chat-demo-"))
    python = sys.executable
    processes = [start([str(BIN / "daphne"), "chatsite.asgi:channel_layer", "-b", "127.0.0.1", "-p", str(port)], env)]
    processes += [start([python, "manage.py", "runworker"], env) for _ in range(args.workers)]
    url = f"http://127.0.0.1:{port}/"

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        wait_healthy(url, processes)
        layer = "Redis at " + env["REDIS_URL"] if env.get("REDIS_URL") else "the embedded SQLite layer"
        if args.check:
            check(url)
            return 0
        print(f"\nChat demo on {url} (1 interface server + {args.workers} workers on {layer}). Ctrl-C stops it.\n",
              flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


if __name__ == "__main__":
    sys.exit(main())
