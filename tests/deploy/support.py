"""Helpers of the deploy tests: render a shipped file for this machine, start the project's processes, talk to them.

A shipped file under ``deploy/`` is written for production (``/srv/chat``, port 8000, user ``chat``, the
example's ``chatsite`` project). :func:`render` swaps those values for the test's, and fails when a value
it expects is not in the file, so an edit to a shipped file cannot leave the test running something else.
"""

from __future__ import annotations

import getpass
import http.client
import json
import os
import re
import socket
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import websocket

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROJECT = Path(__file__).resolve().parent / "project"
VENV_BIN = Path(sys.executable).parent

#: The production values the shipped files use, in the order render() replaces them (longest first).
SHIPPED_VENV = "/srv/chat/venv/bin/"
SHIPPED_APP_DIR = "/srv/chat/app"
SHIPPED_STATIC = "/srv/chat/static"
SHIPPED_RUN_DIR = "/run/daphne"
#: The example project's modules, swapped for the test project's (not the bare name: unit files carry it too).
SHIPPED_MODULES = [("chatsite.asgi:", "deploysite.asgi:"), ("chatsite.settings", "deploysite.settings")]


def render(path: Path, replacements: Iterable[tuple[str, str]]) -> str:
    """The text of ``path`` with each ``old`` replaced by ``new``; AssertionError if an ``old`` is missing."""
    text = path.read_text()
    for old, new in replacements:
        assert old in text, f"{path.relative_to(ROOT)} no longer contains {old!r}: update the test with the file"
        text = text.replace(old, new)
    return text


def common_replacements(run_dir: Path, static_root: Path | None = None) -> list[tuple[str, str]]:
    """Replacements every shipped file needs: venv, project directory, project name (static and sockets opt.)."""
    pairs = [
        (SHIPPED_VENV, f"{VENV_BIN}/"),
        (SHIPPED_APP_DIR, str(PROJECT)),
        *SHIPPED_MODULES,
    ]
    if static_root is not None:
        pairs.append((SHIPPED_STATIC, str(static_root)))
    return pairs


def project_env(redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a project process: the repo and the project importable, this test's layer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "deploysite.settings",
            "DEPLOY_REDIS_URL": redis_url,
            "DEPLOY_PREFIX": prefix,
            "PYTHONPATH": f"{PROJECT}:{ROOT}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def new_prefix() -> str:
    """A Redis key prefix of one test's own, so tests sharing the session's redis-server never meet."""
    return f"deploy{uuid.uuid4().hex[:8]}:"


def current_user() -> str:
    return getpass.getuser()


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a UNIX socket (the per-process daphne sockets)."""

    def __init__(self, path: str, timeout: float = 10.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def get_json(
    port: int | None = None,
    path: str = "/hello/",
    unix: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    """GET ``path`` over TCP 127.0.0.1:``port`` or a UNIX socket; (status, decoded JSON or raw text)."""
    conn: http.client.HTTPConnection
    conn = UnixHTTPConnection(unix, timeout) if unix else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read().decode()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, body
    finally:
        conn.close()


def open_ws(
    path: str, port: int | None = None, unix: str | None = None, timeout: float = 10.0, header: list[str] | None = None
) -> websocket.WebSocket:
    """A WebSocket to ``path`` over TCP 127.0.0.1:``port`` or a UNIX socket."""
    if unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(unix)
        return websocket.create_connection(f"ws://localhost{path}", socket=sock, timeout=timeout, header=header)
    return websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=timeout, header=header)


def ws_roundtrip(ws: websocket.WebSocket, text: str) -> dict[str, Any]:
    ws.send(text)
    return json.loads(ws.recv())


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition", interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns a truthy value; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the server is not up yet: keep trying, report the last error
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached after {timeout}s (last: {last!r})")


def served(port: int | None = None, unix: str | None = None) -> Any:
    """A predicate: the project answers /hello/ with 200 through the workers."""

    def check() -> Any:
        status, body = get_json(port, unix=unix, timeout=5)
        return body if status == 200 else None

    return check


def unit_lines(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of a systemd unit file or an INI-style file, in order, continuation lines joined."""
    result: list[tuple[str, str, str]] = []
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        match = re.fullmatch(r"\[(.+)\]", line)
        if match:
            section = match.group(1)
            continue
        key, _, value = line.partition("=")
        result.append((section, key.strip(), value.strip()))
    return result
