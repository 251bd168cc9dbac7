"""Start one system of the full-stack benchmark serving bench/fullstack/project, and stop it by pid.

Systems (``SYSTEMS``): ``ours`` (our daphne + N ``runworker`` over our Redis layer), ``ours-sqlite``
(the same over SQLiteChannelLayer), ``legacy`` (Daphne 1.4.2 + N Channels 1.1.8 ``runworker`` over
asgi_redis 1.4.3, from tests/legacy/build.sh), ``gunicorn`` (N sync workers serving the view over WSGI,
no layer: the ceiling), ``daphne4`` (N Daphne 4 + Channels 4 processes sharing one listening socket
through ``--fd``) and ``uvicorn`` (``uvicorn --workers N`` serving Django's ASGI app). The last three
come from the peers virtualenv (bench/build_peers.sh). "N workers" is the number of processes running
Django; ours and legacy add their interface server (and Redis) to it. No system writes an access log
(``-v 0`` for the three daphnes, ``--no-access-log`` for uvicorn; gunicorn has none by default).
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import ManagedProcess, RedisServer, descendants, start_server, wait_http_ok

from ..harness import ROOT, Context

PROJECT = ROOT / "bench" / "fullstack" / "project"

LABELS = {
    "ours": "ours (daphne + runworker, Redis)",
    "ours-sqlite": "ours (daphne + runworker, SQLite layer)",
    "legacy": "legacy (Daphne 1.4.2 + Channels 1.1.8, asgi_redis)",
    "gunicorn": "gunicorn sync (WSGI, no layer)",
    "daphne4": "Daphne 4 + Channels 4 (in-process)",
    "uvicorn": "uvicorn (Django ASGI)",
}
SYSTEMS = tuple(LABELS)
#: Systems that serve the project's WebSocket routes.
WEBSOCKET_SYSTEMS = ("ours", "legacy", "daphne4")


def peers_venv() -> Path:
    """The Daphne 4 / Channels 4 / uvicorn / gunicorn virtualenv, built once by bench/build_peers.sh."""
    out = subprocess.run(["bash", str(ROOT / "bench" / "build_peers.sh")], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Running:
    """A started system: its processes (stopped by pid, last started first) and its port."""

    system: str
    workers: int
    port: int = 0
    processes: list[ManagedProcess] = field(default_factory=list)
    worker_processes: list[ManagedProcess] = field(default_factory=list)
    server: ManagedProcess | None = None
    #: How to start one more worker like the others (ours and legacy): (python, env).
    worker_recipe: tuple[str, dict[str, str]] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def roles(self) -> dict[str, list[int]]:
        """The pids doing the work, by role, for CPU accounting (children included)."""
        if self.server is not None:
            return {"interface server": [self.server.pid], "workers": [p.pid for p in self.worker_processes]}
        return {"server processes": [pid for p in self.processes for pid in descendants(p.pid)]}

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout=15)
        self.processes.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in self.processes)


class Launcher:
    """Knows where every stack's executables live; starts systems on free ports."""

    def __init__(self, ctx: Context, redis: RedisServer, redis_per_system: bool = False) -> None:
        """``redis_per_system``: ours and legacy each get a Redis of their own (started here, stopped by
        :meth:`close`), so both can run at the same time without sharing channels."""
        self.ctx = ctx
        self.redis = redis
        self.redis_per_system = redis_per_system
        self._own_redis: dict[str, RedisServer] = {}
        self.peers = peers_venv()
        self.starts = 0

    def redis_for(self, system: str) -> RedisServer:
        if not self.redis_per_system or system not in ("ours", "legacy"):
            return self.redis
        if system not in self._own_redis:
            self._own_redis[system] = RedisServer()
        return self._own_redis[system]

    def close(self) -> None:
        for redis in self._own_redis.values():
            redis.stop()
        self._own_redis.clear()

    def env(self, system: str, sqlite_path: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHONPATH"))}
        stack = "ours" if system.startswith("ours") else system
        env.update(
            {
                "BENCH_STACK": stack,
                "BENCH_REDIS_PORT": str(self.redis_for(system).port),
                "DJANGO_SETTINGS_MODULE": "benchsite.settings",
                "PYTHONUNBUFFERED": "1",
                # Only ours may see this repo: its channels/ would shadow Channels 1.1.8 and 4.
                "PYTHONPATH": f"{PROJECT}:{ROOT}" if stack == "ours" else str(PROJECT),
            }
        )
        if sqlite_path:
            env["BENCH_SQLITE_PATH"] = sqlite_path
        return env

    def worker(self, running: Running, env: dict[str, str], python: str, name: str) -> ManagedProcess:
        process = ManagedProcess(name, [python, "manage.py", "runworker"], env=env, cwd=str(PROJECT))
        running.processes.append(process)
        running.worker_processes.append(process)
        return process

    def add_worker(self, running: Running, name: str) -> ManagedProcess:
        """One more ``runworker`` on the running system's layer (the rollout scenario's next generation)."""
        if running.worker_recipe is None:
            raise ValueError(f"{running.system} has no runworker processes")
        python, env = running.worker_recipe
        return self.worker(running, env, python, name)

    def start(self, system: str, workers: int, ready_path: str = "/hello/") -> Running:
        """Start ``system`` with ``workers`` Django processes and wait until ``ready_path`` answers 200."""
        self.starts += 1
        running = Running(system, workers)
        try:
            self._spawn(running)
            wait_http_ok(running.url + ready_path, running.processes, timeout=60)
        except BaseException:
            logs = running.logs()
            running.stop()
            raise RuntimeError(f"{system} with {workers} workers did not start:\n{logs}") from None
        return running

    def _spawn(self, running: Running) -> None:
        """Start the system's processes, the listening one first; sets ``running.port``."""
        system, workers = running.system, running.workers
        if system in ("ours", "ours-sqlite", "legacy"):
            sqlite = None
            if system == "ours-sqlite":
                sqlite = str(self.ctx.scratch / f"layer-{self.starts}.sqlite3")
            else:
                self.redis_for(system).client().flushall()
            env = self.env(system, sqlite)
            python = self.ctx.python if system != "legacy" else self.ctx.legacy_python
            daphne = str(Path(python).parent / "daphne")
            server = start_server(
                f"fs-{system}-daphne",
                lambda port: [daphne, "-b", "127.0.0.1", "-p", str(port), "-v", "0", "benchsite.asgi:channel_layer"],
                env=env,
                cwd=str(PROJECT),
                timeout=60,
            )
            running.processes.append(server)
            running.server = server
            running.port = server.port or 0
            running.worker_recipe = (python, env)
            for index in range(workers):
                self.worker(running, env, python, f"fs-{system}-worker{index}")
            return
        env = self.env(system)
        bin_dir = self.peers / "bin"
        if system == "daphne4":
            self._spawn_daphne4(running, env)
            return
        if system == "gunicorn":

            def argv(port: int) -> list[str]:
                bind = f"127.0.0.1:{port}"
                return [
                    str(bin_dir / "gunicorn"),
                    "-w",
                    str(workers),
                    "-b",
                    bind,
                    "--backlog",
                    "2048",
                    "benchsite.wsgi:application",
                ]

        elif system == "uvicorn":
            pool = ["--workers", str(workers)] if workers > 1 else []

            def argv(port: int) -> list[str]:
                return [
                    str(bin_dir / "uvicorn"),
                    *pool,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "benchsite.asgi_django:application",
                ]

        else:
            raise ValueError(f"unknown system {system!r}")
        server = start_server(f"fs-{system}", argv, env=env, cwd=str(PROJECT), timeout=60)
        running.processes.append(server)
        running.port = server.port or 0

    def _spawn_daphne4(self, running: Running, env: dict[str, str]) -> None:
        """Daphne has no worker count: N processes accept on one inherited listening socket, bound here
        on port 0, so no other process can take its port."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(2048)
        listener.set_inheritable(True)
        running.port = listener.getsockname()[1]
        argv = [
            str(self.peers / "bin" / "daphne"),
            "-v",
            "0",
            "--fd",
            str(listener.fileno()),
            "benchsite.asgi4:application",
        ]
        try:
            for index in range(running.workers):
                running.processes.append(
                    ManagedProcess(
                        f"fs-daphne4-{index}", argv, env=env, cwd=str(PROJECT), pass_fds=(listener.fileno(),)
                    )
                )
        finally:
            listener.close()
