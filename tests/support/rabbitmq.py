"""A real RabbitMQ broker for the tests: ``rabbitmq-server`` (Debian package) with its own node, ports and data.

Nothing of the machine's own broker is used: the node name, the AMQP port and the distribution port are
fresh (both awaited by :func:`tests.support.processes.start_server`, which starts the broker again on
other ports if one was taken first), the Mnesia and log directories, ``HOME`` (the Erlang cookie) and
the config, env and plugins files live in a temporary directory, and the AMQP listener binds 127.0.0.1
only. The broker is stopped by pid (the ``beam.smp`` process ``rabbitmq-server`` execs into); it
registers with the machine's epmd.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from tests.support.processes import ADDRESS_IN_USE, ManagedProcess, start_server

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
#: How the broker says one of its ports was taken (Erlang names the error, not its text).
RABBITMQ_IN_USE = (ADDRESS_IN_USE, "eaddrinuse", "dist_port_already_used")


def _node(port: int) -> str:
    """The broker's Erlang node name, unique on this machine while it holds ``port``."""
    return f"ccrabbit{port}@localhost"


def available() -> bool:
    return os.access(RABBITMQ_SERVER, os.X_OK)


class RabbitMQServer:
    """One broker node on free ports; ``url`` is its amqp:// URL (user guest, vhost /)."""

    def __init__(self, start_timeout: float = 60.0) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rabbitmq-"))
        (self.dir / "enabled_plugins").write_text("")
        (self.dir / "rabbitmq-env.conf").write_text("")
        (self.dir / "rabbitmq.conf").write_text(
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
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

        def argv(port: int, dist_port: int) -> list[str]:
            # env(1) execs the server, which execs beam.smp: the pid start_server watches and stops stays the same.
            # A node name of each try's own: epmd may still hold a killed try's name for a moment.
            ports = {"RABBITMQ_NODE_PORT": port, "RABBITMQ_DIST_PORT": dist_port}
            return ["env", f"RABBITMQ_NODENAME={_node(port)}", *(f"{k}={v}" for k, v in ports.items()), RABBITMQ_SERVER]

        self.process: ManagedProcess | None = None
        try:
            # Its AMQP and distribution ports are both awaited, and tried again on fresh ones if one was taken.
            self.process = start_server(
                "rabbitmq",
                argv,
                ports=2,
                env=self.env,
                cwd=str(self.dir),
                timeout=start_timeout,
                in_use=RABBITMQ_IN_USE,
            )
            self.port, self.dist_port = self.process.ports
            self.node = _node(self.port)
            self.env.update(
                RABBITMQ_NODENAME=self.node, RABBITMQ_NODE_PORT=str(self.port), RABBITMQ_DIST_PORT=str(self.dist_port)
            )
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
