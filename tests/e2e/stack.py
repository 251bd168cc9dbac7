"""Start the end-to-end project as real processes: an interface server and worker pools on Redis.

Either side can be ours (this repo's venv) or legacy (Daphne 1.4.2 / Channels 1.1.8 runworker on
Django 2.2 from the legacy venv); the project under ``tests/e2e/project`` is the same for both.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.legacy import legacy_venv
from tests.support.processes import ManagedProcess, RedisServer, start_server, wait_for_log, wait_http_ok
from tests.support.redis_db import RedisDatabase

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "e2e" / "project"
OUR_PYTHON = sys.executable
OUR_DAPHNE = str(Path(sys.executable).parent / "daphne")


def wait_listening(worker: ManagedProcess, timeout: float = 60.0) -> None:
    """Until a ``runworker`` (ours or Channels 1.1.8) logs that it listens on its channels."""
    wait_for_log(worker, "Listening on channels", timeout)


@dataclass
class Stack:
    """One deployment of the project: a Redis database and prefix, a session cache dir, and its processes.

    ``db`` is the number of the Redis database the layer uses: a test on the session's shared server
    takes one of its own from the ``redis_databases`` pool (:meth:`on`), so flushing it touches no one else.
    """

    redis: RedisServer
    prefix: str
    db: int = 0
    cache_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="e2e-cache-"))
    processes: list[ManagedProcess] = field(default_factory=list)
    port: int = 0

    @classmethod
    def on(cls, database: RedisDatabase, prefix: str) -> Stack:
        """A stack whose layer lives in ``database`` (one of the session server's, this stack's alone)."""
        return cls(database.server, prefix, db=database.number)

    @property
    def redis_url(self) -> str:
        """The layer's Redis database, as a URL."""
        return f"redis://127.0.0.1:{self.redis.port}/{self.db}"

    def env(self, legacy: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update(
            {
                "E2E_REDIS_PORT": str(self.redis.port),
                "E2E_REDIS_DB": str(self.db),
                "E2E_PREFIX": self.prefix,
                "E2E_CACHE_DIR": self.cache_dir,
                "DJANGO_SETTINGS_MODULE": "e2eproject.settings",
                "PYTHONUNBUFFERED": "1",
                # Ours needs the repo on the path for worker/channels/channellayer; legacy must not see it.
                "PYTHONPATH": str(PROJECT) if legacy else f"{PROJECT}:{ROOT}",
            }
        )
        return env

    def worker(self, name: str, *args: str, legacy: bool = False) -> ManagedProcess:
        python = str(legacy_venv() / "bin" / "python") if legacy else OUR_PYTHON
        process = ManagedProcess(
            name, [python, "manage.py", "runworker", *args], env=self.env(legacy), cwd=str(PROJECT)
        )
        self.processes.append(process)
        return process

    def server(self, *args: str, legacy: bool = False) -> ManagedProcess:
        """Start the interface server on a free port; ``args`` are extra command-line options (e.g. ``-t 3``)."""
        daphne = str(legacy_venv() / "bin" / "daphne") if legacy else OUR_DAPHNE
        process = start_server(
            "legacy-daphne" if legacy else "our-daphne",
            lambda port: [daphne, "-b", "127.0.0.1", "-p", str(port), *args, "e2eproject.asgi:channel_layer"],
            env=self.env(legacy),
            cwd=str(PROJECT),
            timeout=30,
        )
        self.processes.append(process)
        self.port = process.port or 0
        return process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 40.0) -> None:
        """Until a view answers through the workers; fails at once if one of the stack's processes exits."""
        wait_http_ok(self.url + "/hello/", self.processes, timeout)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
