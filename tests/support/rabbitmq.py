"""A real RabbitMQ broker for the tests: ``rabbitmq-server`` (Debian package) with its own node, ports and data.

Nothing of the machine's own broker is used: the node name, the AMQP port and the distribution port are
fresh, the Mnesia and log directories, ``HOME`` (the Erlang cookie) and the config, env and plugins files
live in a temporary directory, and the AMQP listener binds 127.0.0.1 only. The broker is stopped by pid
(the ``beam.smp`` process ``rabbitmq-server`` execs into); it registers with the machine's epmd.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from tests.support.processes import ManagedProcess, free_port, wait_for_port

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def available() -> bool:
    return os.access(RABBITMQ_SERVER, os.X_OK)


class RabbitMQServer:
    """One broker node on free ports; ``url`` is its amqp:// URL (user guest, vhost /)."""

    def __init__(self, start_timeout: float = 60.0) -> None:
        self.port = free_port()
        self.dist_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rabbitmq-"))
        self.node = f"ccrabbit{self.port}@localhost"
        (self.dir / "enabled_plugins").write_text("")
        (self.dir / "rabbitmq-env.conf").write_text("")
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            # A broker in a shared test machine must not stop accepting messages over its disk watermark.
            "disk_free_limit.absolute = 1MB\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n"
        )
        home = self.dir / "home"
        home.mkdir()
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.process = ManagedProcess(f"rabbitmq-{self.port}", [RABBITMQ_SERVER], env=self.env, cwd=str(self.dir))
        try:
            wait_for_port(self.port, timeout=start_timeout, process=self.process.popen)
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        import pika

        deadline = time.monotonic() + timeout
        while True:
            try:
                pika.BlockingConnection(pika.URLParameters(self.url)).close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=15, signum=signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)
