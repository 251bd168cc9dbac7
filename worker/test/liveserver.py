"""``ChannelLiveServerTestCase``: a real interface server and a real worker process behind each test.

Like Channels 1.1.8's (which ran Daphne and a worker in forked processes): per test, an interface
server (in its own process, on a port the system picks) and a worker process (forked from the test
process, so overridden settings and the test database name carry over) run against the
``TEST_CONFIG`` of the default layer. Tests talk to :attr:`live_server_url` /
:attr:`live_server_ws_url` with any HTTP or WebSocket client, e.g. Selenium.

The interface server runs through its embedding API (``interfaceserver.embedded.EmbeddedServer``),
but in a child process rather than in the test process, for two reasons. Each test gets a fresh
server, and a Twisted reactor can be installed and run only once per process; and a server in its
own process is stopped as in production (SIGTERM, drain, exit), with its own event loop, never
sharing the GIL or the signal handlers of the test runner. The child binds port 0 and writes the
port it got to a pipe once it listens (no free-port race, no polling for the port); if it dies
first, the test fails with its output.

Refused, as in 1.1.8: in-memory SQLite databases (other processes cannot see them), more than one
channel layer, and an in-memory channel layer (it cannot span processes).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test.testcases import TransactionTestCase

from ..asgi import DEFAULT_CHANNEL_LAYER, ChannelLayerManager, channel_layers
from .base import PRE_SETUP_IS_CLASSMETHOD

__all__ = ["ChannelLiveServerTestCase", "InterfaceServerProcess", "WorkerProcess"]

_fork = multiprocessing.get_context("fork")


#: The interface server's process: ``argv[1]`` is JSON ``[backend, layer options, host, report fd]``;
#: once listening it writes the bound ports (JSON) to the report fd and closes it.
_SERVER_PROGRAM = """
import json, logging, os, sys
from channellayer import get_channel_layer
from interfaceserver.config import Config, build_endpoints
from interfaceserver.embedded import EmbeddedServer

backend, options, host, report_fd = json.loads(sys.argv[1])
logging.basicConfig(level=logging.WARNING)
config = Config(
    layer=backend, layer_config=tuple(sorted(options.items())), endpoints=build_endpoints(host, 0), verbosity=0
)


def report(server):
    os.write(report_fd, json.dumps(server.ports).encode())
    os.close(report_fd)


server = EmbeddedServer(config, get_channel_layer(backend, options))
exit_code = server.run(on_listening=report)
if server.error is not None:
    logging.critical("Could not listen: %s", server.error)
sys.exit(exit_code)
"""


def _test_layer_settings() -> tuple[str, dict[str, Any]]:
    config = ChannelLayerManager().configs[DEFAULT_CHANNEL_LAYER]
    if "TEST_CONFIG" not in config:
        raise ImproperlyConfigured(f"No TEST_CONFIG specified for {DEFAULT_CHANNEL_LAYER}")
    return str(config["BACKEND"]), dict(config["TEST_CONFIG"] or {})


class InterfaceServerProcess:
    """The interface server in a child process on ``host``; :attr:`port` is the port it bound."""

    start_timeout = 20.0

    def __init__(self, host: str) -> None:
        self.host = host
        self.port: int | None = None
        self.popen: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()

    def start(self) -> None:
        backend, config = _test_layer_settings()
        read_fd, write_fd = os.pipe()
        try:
            argv = [sys.executable, "-c", _SERVER_PROGRAM, json.dumps([backend, config, self.host, write_fd])]
            try:
                self.popen = subprocess.Popen(
                    argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, pass_fds=(write_fd,)
                )
            finally:
                os.close(write_fd)  # the child's copy is the only one left: EOF here when it closes or dies
            report = self._read_report(read_fd)
        finally:
            os.close(read_fd)
        if not report:
            self._terminate()
            output = self.output()
            self.log.close()
            raise RuntimeError(f"interface server did not start listening on {self.host}: {output}")
        self.port = json.loads(report)[0]

    def _read_report(self, read_fd: int) -> bytes:
        """What the child wrote before closing its end (empty if it died or timed out first)."""
        report = b""
        deadline = time.monotonic() + self.start_timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not select.select([read_fd], [], [], remaining)[0]:
                return b""
            chunk = os.read(read_fd, 4096)
            if not chunk:
                return report
            report += chunk
        return b""

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf8", "replace")

    def stop(self) -> None:
        self._terminate()
        self.log.close()

    def _terminate(self) -> None:
        """SIGTERM (the server drains and exits), SIGKILL if it has not exited 10 s later."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


class WorkerProcess(_fork.Process):  # type: ignore[name-defined]
    """A worker forked from the test process: same settings (overrides included), test database."""

    def __init__(self, is_ready: Any, n_threads: int, databases: dict[str, Any], serve_static: bool) -> None:
        super().__init__(daemon=True)
        self.is_ready = is_ready
        self.n_threads = n_threads
        self.databases = databases
        self.serve_static = serve_static

    def run(self) -> None:
        from ..staticfiles import StaticFilesConsumer
        from ..worker import Worker

        try:
            # The parent's connection objects are not usable here: open our own, same test database.
            for alias in list(self.databases):
                del connections[alias]
            layer = ChannelLayerManager().make_test_backend(DEFAULT_CHANNEL_LAYER)
            # Consumers' Group()/Channel() sends go through the global manager: point it at the test layer.
            channel_layers.set(DEFAULT_CHANNEL_LAYER, layer)
            if self.serve_static and apps.is_installed("django.contrib.staticfiles"):
                layer.router.check_default(http_consumer=StaticFilesConsumer())
            else:
                layer.router.check_default()
            worker = Worker(channel_layer=layer, signal_handlers=True, threads=self.n_threads)
            worker.ready()
        finally:
            self.is_ready.set()
        worker.run()
        os._exit(worker.exit_code)


class ChannelLiveServerTestCase(TransactionTestCase):
    """``TransactionTestCase`` with a live interface server and worker (see the module docstring)."""

    host = "localhost"
    ProtocolServerProcess = InterfaceServerProcess
    WorkerProcess = WorkerProcess
    worker_threads = 1
    serve_static = True
    #: Seconds to wait for the worker process to be ready.
    worker_start_timeout = 20.0

    @property
    def live_server_url(self) -> str:
        return f"http://{self.host}:{self._server_process.port}"

    @property
    def live_server_ws_url(self) -> str:
        return f"ws://{self.host}:{self._server_process.port}"

    _server_process: Any = None
    _worker_process: Any = None

    @classmethod
    def _check_live_setup(cls) -> None:
        for connection in connections.all():
            if connection.vendor == "sqlite" and connection.is_in_memory_db():
                raise ImproperlyConfigured("ChannelLiveServerTestCase can not be used with in memory databases")
        manager = ChannelLayerManager()
        if len(manager.configs) > 1:
            raise ImproperlyConfigured(
                "ChannelLiveServerTestCase does not support multiple CHANNEL_LAYERS at this time"
            )
        layer = manager.make_test_backend(DEFAULT_CHANNEL_LAYER)
        if layer.local_only():
            raise ImproperlyConfigured(
                "ChannelLiveServerTestCase cannot use an in-memory channel layer: it cannot span processes. "
                "Set TEST_CONFIG to a Redis or SQLite layer."
            )
        if "flush" in getattr(layer, "extensions", ()):
            layer.flush()
        layer.close()

    @classmethod
    def _start_live_processes(cls) -> None:
        cls._server_process = cls.ProtocolServerProcess(cls.host)
        cls._server_process.start()
        ready = _fork.Event()
        cls._worker_process = cls.WorkerProcess(
            ready, cls.worker_threads, dict(connections.databases), cls.serve_static
        )
        cls._worker_process.start()
        if not ready.wait(cls.worker_start_timeout) or not cls._worker_process.is_alive():
            cls._stop_live_processes()
            raise RuntimeError("the live-server worker process did not start")

    if PRE_SETUP_IS_CLASSMETHOD:

        @classmethod
        def _pre_setup(cls) -> None:
            cls._check_live_setup()
            super()._pre_setup()
            cls._start_live_processes()

    else:

        def _pre_setup(self) -> None:  # type: ignore[misc]
            self._check_live_setup()
            super()._pre_setup()
            self._start_live_processes()

    @classmethod
    def _stop_live_processes(cls) -> None:
        if cls._server_process is not None:
            cls._server_process.stop()
            cls._server_process = None
        worker, cls._worker_process = cls._worker_process, None
        if worker is not None and worker.is_alive():
            worker.terminate()  # SIGTERM: graceful stop
            worker.join(15)
            if worker.is_alive():
                worker.kill()
                worker.join(5)

    def _post_teardown(self) -> None:
        self._stop_live_processes()
        super()._post_teardown()
