"""websocketbridge.js run by node against a live runserver: streams, plain frames, send queue, reconnect."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.integration.test_runserver import ROOT, start_runserver

NODE = shutil.which("node")
BRIDGE = ROOT / "channels" / "static" / "channels" / "js" / "websocketbridge.js"
CLIENT = Path(__file__).parent / "js" / "bridge_client.js"


def test_one_copy_of_the_bridge():
    """websocketbridge.js exists once in the repository, where staticfiles finds it for app "channels"."""
    copies = sorted(
        p.relative_to(ROOT).as_posix()
        for p in ROOT.glob("*/**/websocketbridge.js")
        if not p.relative_to(ROOT).parts[0].startswith((".", "build"))
    )
    assert copies == ["channels/static/channels/js/websocketbridge.js"]


def _lines(process: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _expect(lines: queue.Queue, predicate, timeout: float = 30) -> dict:
    seen = []
    while True:
        try:
            event = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"event not seen; got {seen}") from None
        seen.append(event)
        if predicate(event):
            return event


@pytest.mark.slow
@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_bridge_streams_queue_and_reconnect(tmp_path):
    """The bridge demultiplexes streams, delivers plain frames to listen(), flushes queued sends, and reconnects."""
    server, port = start_runserver(tmp_path)
    node = subprocess.Popen(
        [NODE, "--experimental-websocket", "--no-warnings", str(CLIENT), str(BRIDGE), f"ws://127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _lines(node)
        _expect(lines, lambda e: e == {"event": "open", "count": 1})
        _expect(lines, lambda e: e == {"event": "stream", "stream": "echo", "payload": {"n": 1}})
        _expect(lines, lambda e: e == {"event": "plain", "action": {"queued": True}, "stream": None})
        server.stop()
        _expect(lines, lambda e: e["event"] == "close")
        server, _ = start_runserver(tmp_path, port=port)
        _expect(lines, lambda e: e == {"event": "open", "count": 2}, timeout=30)
        _expect(lines, lambda e: e == {"event": "stream", "stream": "echo", "payload": {"n": 2}})
    except AssertionError as error:
        node.kill()
        node.wait(5)
        node_err = node.stderr.read() if node.stderr is not None else ""
        raise AssertionError(
            f"{error}\n--- node stderr ---\n{node_err[-5000:]}\n--- runserver log ---\n{server.log()[-10000:]}"
        ) from None
    finally:
        node.kill()
        node.wait(5)
        server.stop()
