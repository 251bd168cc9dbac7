"""deploy/systemd/: the socket-activated interface server and the per-pool worker template, run as systemd would.

``systemd-analyze verify`` checks the units. There is no systemd running here (PID 1 is not systemd), so
the units' ``ExecStart`` lines are run the way systemd runs them: the command parsed from the unit,
``%i`` and ``$VAR`` expanded from its ``EnvironmentFile``s, a clean environment, ``WorkingDirectory`` as
the cwd, and for the interface server the ``ListenStream`` socket bound by ``systemd-socket-activate``
(systemd's own tool), which passes it as fd 3 with LISTEN_FDS=1 and LISTEN_PID and execs the command on
the first connection. ``User=``/``Group=`` are not applied (the test does not drop privileges).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.deploy.support import (
    DEPLOY,
    PROJECT,
    SHIPPED_APP_DIR,
    SHIPPED_MODULES,
    SHIPPED_VENV,
    VENV_BIN,
    get_json,
    new_prefix,
    open_ws,
    render,
    unit_lines,
    wait_until,
    ws_roundtrip,
)
from tests.support.processes import ManagedProcess, start_server

pytestmark = [pytest.mark.deploy]

UNITS = DEPLOY / "systemd"
SOCKET, SERVICE, WORKER = "chatsite-daphne.socket", "chatsite-daphne.service", "chatsite-worker@.service"
ENV_FILES = {"/etc/chatsite/chatsite.env": "chatsite.env", "/etc/chatsite/worker-%i.env": "worker-%i.env"}


def rendered(name: str, extra: list[tuple[str, str]] | None = None) -> str:
    """A unit or env file with the production venv, project directory and project name swapped for the test's."""
    text = (UNITS / name).read_text()
    pairs = [
        (old, new)
        for old, new in [(SHIPPED_VENV, f"{VENV_BIN}/"), (SHIPPED_APP_DIR, str(PROJECT)), *SHIPPED_MODULES]
        if old in text
    ]
    return render(UNITS / name, [*pairs, *(extra or [])])


def read_env_file(text: str) -> dict[str, str]:
    """systemd's EnvironmentFile format: KEY=VALUE lines, # comments, optional quotes around the value."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, _, value = line.partition("=")
        env[key.strip()] = shlex.split(value)[0] if value.strip()[:1] in "\"'" else value.strip()
    return env


def exec_start(unit_text: str, instance: str, env: dict[str, str]) -> list[str]:
    """argv of the unit's ExecStart as systemd builds it: specifiers, then $VAR (split) and ${VAR} (one word)."""
    (command,) = [value for section, key, value in unit_lines(unit_text) if section == "Service" and key == "ExecStart"]
    command = command.replace("%i", instance).replace("%%", "%")
    argv: list[str] = []
    for word in shlex.split(command):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            argv.extend(env.get(whole.group(1), "").split())
        else:
            argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word))
    return argv


def service_settings(unit_text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for section, key, value in unit_lines(unit_text):
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def unit_env(unit_text: str, instance: str, redis_url: str, prefix: str) -> dict[str, str]:
    """The environment systemd gives the service: its EnvironmentFiles (rendered), plus this test's layer prefix."""
    env: dict[str, str] = {}
    for path in service_settings(unit_text)["Service.EnvironmentFile"]:
        assert path in ENV_FILES, f"unexpected EnvironmentFile {path}"
        name = ENV_FILES[path].replace("%i", instance)
        swaps = [("redis://127.0.0.1:6379/0", redis_url)] if name == "chatsite.env" else []
        env.update(read_env_file(rendered(name, swaps)))
    # Not in the unit: the test's project reads its Redis key prefix and import path from here.
    env.update(
        {"DEPLOY_PREFIX": prefix, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PYTHONUNBUFFERED": "1"}
    )
    return env


def test_systemd_analyze_verify(tmp_path):
    """systemd-analyze verify finds nothing to say about the socket, the service and a worker instance."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here: the units are only run, not verified")
    for name in (SOCKET, SERVICE):
        (tmp_path / name).write_text(rendered(name))
    # A template is verified as an instance: the same file under an instance's name.
    (tmp_path / "chatsite-worker@default.service").write_text(rendered(WORKER))
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(p) for p in sorted(tmp_path.iterdir()))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "Failed to initialize manager" in result.stderr or "System has not been booted" in result.stderr:
        pytest.skip(f"systemd-analyze verify cannot run on this machine: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr


def test_stop_timeouts_exceed_the_drain_timeouts():
    """TimeoutStopSec leaves room for --drain-timeout, so systemd never SIGKILLs a draining process."""
    for name in (SERVICE, WORKER):
        text = (UNITS / name).read_text()
        timeout_stop = float(service_settings(text)["Service.TimeoutStopSec"][0])
        drain = float(re.search(r"--drain-timeout (\d+)", text).group(1))  # type: ignore[union-attr]
        # A worker idle in its blocking receive needs up to the layer's blocking timeout (5 s) more.
        assert timeout_stop >= drain + 5, name


def test_socket_activated_interface_server_and_worker_pools(redis_server, tmp_path):
    """The .socket/.service pair serves HTTP and WebSocket on fd 3; each worker@ instance serves its pool."""
    if not shutil.which("systemd-socket-activate"):
        pytest.skip("systemd-socket-activate (package systemd) is not installed: cannot pass a socket as systemd")
    prefix = new_prefix()
    service = rendered(SERVICE)
    settings = service_settings(service)
    assert settings["Service.User"] == ["chat"] and settings["Unit.Requires"] == [SOCKET]
    env = unit_env(service, "", redis_server.url, prefix)
    argv = exec_start(service, "", env)
    assert argv[1:3] == ["--fd", "3"]

    def activator(port: int) -> list[str]:
        """systemd-socket-activate on the .socket unit's ListenStream, with this try's port."""
        socket_text = rendered(SOCKET, [("ListenStream=127.0.0.1:8000", f"ListenStream=127.0.0.1:{port}")])
        (listen,) = service_settings(socket_text)["Socket.ListenStream"]
        return ["systemd-socket-activate", "-l", listen, *(f"-E{k}={v}" for k, v in env.items()), *argv]

    # systemd-socket-activate binds the port itself, so start_server sees it listen before daphne runs.
    daphne = start_server("systemd-daphne", activator, cwd=settings["Service.WorkingDirectory"][0])
    port = daphne.port or 0
    workers = []
    for pool in ("default", "background"):
        worker_text = rendered(WORKER)
        worker_env = unit_env(worker_text, pool, redis_server.url, prefix)
        worker_argv = exec_start(worker_text, pool, worker_env)
        expected = {"default": ["--exclude-channels", "reports.*"], "background": ["--only-channels", "reports.*"]}
        assert worker_argv[3:5] == expected[pool], worker_argv
        clean = {"PATH": os.environ["PATH"], **worker_env}  # systemd's environment: PATH plus the unit's
        workers.append(
            ManagedProcess(
                f"systemd-worker-{pool}",
                worker_argv,
                env=clean,
                cwd=service_settings(worker_text)["Service.WorkingDirectory"][0],
            )
        )
    try:
        status, body = wait_until(lambda: get_json(port, timeout=30), timeout=60, what="the first request")
        assert status == 200, body
        # systemd-socket-activate exec'd daphne in place: the same pid, with the socket and variables of systemd.
        environ = dict(
            item.split("=", 1) for item in Path(f"/proc/{daphne.pid}/environ").read_text().split("\0") if "=" in item
        )
        assert environ["LISTEN_FDS"] == "1" and environ["LISTEN_PID"] == str(daphne.pid)
        assert os.readlink(f"/proc/{daphne.pid}/fd/3").startswith("socket:")
        assert "daphne" in Path(f"/proc/{daphne.pid}/cmdline").read_text()
        job = open_ws("/job/", port)
        assert ws_roundtrip(job, "x")["pid"] == workers[1].pid
        echo = open_ws("/echo/", port)
        assert ws_roundtrip(echo, "y")["pid"] == workers[0].pid
        job.close()
        echo.close()
    finally:
        stopped = time.monotonic()
        codes = [process.stop(timeout=40, signum=signal.SIGTERM) for process in (daphne, *workers)]
    assert codes == [0, 0, 0], [process.log()[-2000:] for process in (daphne, *workers)]
    assert time.monotonic() - stopped < 40
