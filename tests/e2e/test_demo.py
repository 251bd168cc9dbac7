"""`make demo` works: the example project runs as real processes and a person could chat on it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.stack import legacy_venv
from tests.support.processes import ADDRESS_IN_USE, free_port, retry_on_lost_port
from tests.support.redis_db import RedisDatabase

ROOT = Path(__file__).resolve().parents[2]
PASSED = (
    "demo check passed: login + session, WebSocket chat, live list, background report, 2 workers + 1 reports worker"
)


def run_check(tmp_path: Path, extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``demo.py --check``: it binds a free port itself and hands it to daphne as ``--fd`` (no port race)."""
    env = {**os.environ, **extra_env}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    logs = Path(tempfile.mkdtemp(prefix="logs-", dir=tmp_path))
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--check", "--log-dir", str(logs), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_demo_on_embedded_sqlite_layer(tmp_path: Path) -> None:
    """The demo needs a login, then serves chat, the live list and a report rendered by the reports pool."""
    done = run_check(tmp_path, {})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-8000:]
    assert PASSED in done.stdout


@pytest.mark.redis
def test_demo_on_redis(tmp_path: Path, redis_db: RedisDatabase) -> None:
    """REDIS_URL switches the demo to Redis, configured as a Channels 1 project configured asgi_redis."""
    done = run_check(tmp_path, {"REDIS_URL": redis_db.url})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-8000:]
    assert PASSED in done.stdout
    # The messages really went through this Redis database: its global counter saw them.
    assert int(redis_db.client().get("asgi-meta:#global#:messages_count") or 0) > 10


@pytest.mark.legacy
@pytest.mark.redis
def test_the_example_runs_unchanged_on_channels_1_1_8_and_daphne_1_4_2(tmp_path: Path, redis_db: RedisDatabase) -> None:
    """The same project and self-check pass on the original packages (Django 2.2 legacy venv, asgi_redis)."""
    done = run_check(tmp_path, {"REDIS_URL": redis_db.url}, "--venv", str(legacy_venv()))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-8000:]
    assert PASSED in done.stdout
    assert int(redis_db.client().get("asgi-meta:#global#:messages_count") or 0) > 10


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _make_demo_in_a_terminal(env: dict[str, str]) -> tuple[str, int, float | None]:
    """`make demo` on a free port in a pseudo-terminal, sent Ctrl-C once it says it is ready: its output,
    its wait status, and when Ctrl-C was sent (None if it never got ready)."""
    # -o: never rebuild the venv from here; PY: this interpreter, whatever venv runs the tests.
    argv = [
        "make",
        "-s",
        "-C",
        str(ROOT),
        "-o",
        ".venv/.installed",
        "demo",
        f"PY={sys.executable}",
        f"PORT={free_port()}",
    ]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a shell-like session with make in the terminal's foreground
        os.execvpe(argv[0], argv, env)
    output, sent_at = b"", None
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the terminal's last writer has gone
                    break
                if not chunk:
                    break
                output += chunk
            if sent_at is None and b"Ctrl-C stops it" in output and b"processes:" in output:
                time.sleep(0.5)
                os.write(fd, b"\x03")  # what the terminal does on Ctrl-C: SIGINT to its foreground group
                sent_at = time.monotonic()
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return output.decode(errors="replace"), status, sent_at


def test_make_demo_ctrl_c_stops_everything_and_exits_0(tmp_path: Path) -> None:
    """Ctrl-C in the terminal running `make demo` stops all four processes; make exits 0, no "Error"."""
    env = {**os.environ, "CHAT_RUN_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # make demo binds the port it is given itself; one taken meanwhile shows as daphne's error and is retried.
    text, status, sent_at = retry_on_lost_port(
        lambda: _make_demo_in_a_terminal(env), lambda run: run[2] is None and ADDRESS_IN_USE in run[0]
    )
    assert sent_at is not None, "the demo never said it was ready:\n" + text[-5000:]
    assert os.waitstatus_to_exitcode(status) == 0, text[-5000:]
    assert "Error" not in text and "Interrupt" not in text, text[-5000:]
    assert re.search(r"Log in with demo / \S+\.", text), text[-5000:]
    listed = re.search(r"processes: (.*)", text)
    assert listed is not None, text[-5000:]
    pids = [int(p) for p in re.findall(r"\w[\w-]* (\d+)", listed.group(1))]
    assert len(pids) == 4, listed.group(0)
    assert [p for p in pids if _pid_exists(p)] == [], "processes left running after Ctrl-C"
