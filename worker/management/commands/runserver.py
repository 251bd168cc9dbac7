"""``manage.py runserver``: the interface server and worker threads in one development process.

Channels 1.1.8's runserver on modern Django (reference §5.5): the interface server
(``interfaceserver``, Daphne-compatible) runs on Twisted's asyncio reactor in the command's thread,
and worker threads (4, or 1 with ``--nothreading``) consume from the same layer — so the in-memory
layer works. The default routes are added with ``check_default`` (``StaticFilesConsumer`` when
static files are served: staticfiles installed and ``DEBUG`` or ``--insecure``, unless
``--nostatic``).

Options added to Django's: ``--noworker`` (no worker threads: run ``runworker`` elsewhere),
``--noasgi`` (Django's own WSGI runserver; also used when there is no ``default`` layer),
``--http_timeout`` (seconds, default 60) and ``--websocket_handshake_timeout`` (default 5).
``CHANNELS_WS_PROTOCOLS`` and ``FORCE_SCRIPT_NAME`` are honoured as in 1.1.8.

Stopping (Ctrl-C or SIGTERM with ``--noreload``): the interface server drains its connections,
then the workers finish the messages in flight and the command exits.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import sys
import threading
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserverCommand
from django.core.management.base import CommandError

from ...asgi import DEFAULT_CHANNEL_LAYER, channel_layers
from ...handler import ViewConsumer
from ...log import setup_logger
from ...staticfiles import StaticFilesConsumer
from ...worker import Worker

__all__ = ["Command", "RunserverAccessLog", "WorkerThread", "patch_staticfiles_runserver"]

logger = logging.getLogger("django.channels")


class RunserverAccessLog:
    """Console lines in 1.1.8's runserver format, for the interface server's access-log hook.

    ``[2026/11/21 17:00:00] HTTP GET /path?q=1 200 [0.01, 127.0.0.1:5000]`` (seconds taken, then the
    client); WebSocket events print ``WebSocket HANDSHAKING|CONNECT|REJECT|DISCONNECT /path [client]``.
    """

    def __init__(self, command: Any) -> None:
        self.command = command

    @staticmethod
    def _prefix() -> str:
        return f"[{datetime.datetime.now():%Y/%m/%d %H:%M:%S}] "

    @staticmethod
    def _client(client: Any) -> str:
        return f"{client[0]}:{client[1]}" if client else "-"

    def http(self, client: Any, method: str, path: str, status: int | None, length: int | None,
             time_taken: float | None = None) -> None:
        taken = f"{time_taken:.2f}, " if time_taken is not None else ""
        line = f"{self._prefix()}HTTP {method} {path} {status} [{taken}{self._client(client)}]\n"
        style = self.command.style
        code = status or 0
        if 200 <= code < 300:
            line = style.HTTP_SUCCESS(line)
        elif 100 <= code < 200:
            line = style.HTTP_INFO(line)
        elif code == 304:
            line = style.HTTP_NOT_MODIFIED(line)
        elif 300 <= code < 400:
            line = style.HTTP_REDIRECT(line)
        elif code == 404:
            line = style.HTTP_NOT_FOUND(line)
        elif 400 <= code < 500:
            line = style.HTTP_BAD_REQUEST(line)
        else:
            line = style.HTTP_SERVER_ERROR(line)
        sys.stderr.write(line)

    def websocket(self, client: Any, action: str, path: str) -> None:
        word = {"CONNECTING": "HANDSHAKING"}.get(action, action)
        sys.stderr.write(f"{self._prefix()}WebSocket {word} {path} [{self._client(client)}]\n")


class WorkerThread(threading.Thread):
    """A daemon thread running a :class:`~worker.worker.Worker` (``threads`` loops) on ``channel_layer``.

    :meth:`stop` asks it to finish the messages in flight; ``join()`` then waits for that.
    """

    def __init__(self, channel_layer: Any, logger: logging.Logger | None = None, threads: int = 1) -> None:
        super().__init__(name="runserver-worker", daemon=True)
        self.channel_layer = channel_layer
        self.logger = logger or logging.getLogger("django.channels")
        self.worker = Worker(channel_layer=channel_layer, signal_handlers=False, threads=threads)

    def run(self) -> None:
        self.logger.debug("Worker thread running")
        self.worker.ready()
        self.worker.run()
        self.logger.debug("Worker thread exited")

    def stop(self) -> None:
        self.worker.stop("runserver stopping")


class Command(StaticfilesRunserverCommand):
    """Django's runserver (with staticfiles' ``--nostatic`` / ``--insecure``), served over channels."""

    help = "Starts a development server with an in-process interface server and worker threads (Channels)."
    protocol = "http"

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--noworker", action="store_false", dest="run_worker", default=True,
            help="Tells Django not to run worker threads; you'll need to run runworker separately.",
        )
        parser.add_argument(
            "--noasgi", action="store_false", dest="use_asgi", default=True,
            help="Run Django's WSGI runserver rather than the channels one.",
        )
        parser.add_argument(
            "--http_timeout", "--http-timeout", action="store", dest="http_timeout", type=float, default=60,
            help="Seconds an HTTP request may wait for its response (default: 60).",
        )
        parser.add_argument(
            "--websocket_handshake_timeout", "--websocket-handshake-timeout", action="store",
            dest="websocket_handshake_timeout", type=float, default=5,
            help="Seconds a WebSocket handshake may take (default: 5).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options.get("verbosity", 1)
        self.logger = setup_logger("django.channels", self.verbosity)
        self.http_timeout = options.get("http_timeout", 60)
        self.websocket_handshake_timeout = options.get("websocket_handshake_timeout", 5)
        if self.http_timeout <= 0:
            raise CommandError(f"--http_timeout must be positive, not {self.http_timeout}")
        super().handle(*args, **options)

    def get_consumer(self, *args: Any, **options: Any) -> ViewConsumer:
        """``StaticFilesConsumer`` when static files should be served (as staticfiles' runserver decides)."""
        use_static = options.get("use_static_handler", True) and apps.is_installed("django.contrib.staticfiles")
        if use_static and (settings.DEBUG or options.get("insecure_serving", False)):
            return StaticFilesConsumer()
        return ViewConsumer()

    def inner_run(self, *args: Any, **options: Any) -> None:
        if not options.get("use_asgi", True) or DEFAULT_CHANNEL_LAYER not in channel_layers:
            super().inner_run(*args, **options)
            return
        from django.utils import autoreload

        autoreload.raise_last_exception()
        layer = channel_layers[DEFAULT_CHANNEL_LAYER]
        layer.router.check_default(http_consumer=self.get_consumer(*args, **options))
        if not options.get("skip_checks", False):
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        self.check_migrations()
        quit_command = "CTRL-BREAK" if sys.platform == "win32" else "CONTROL-C"
        address = f"[{self.addr}]" if self._raw_ipv6 else self.addr
        self.stdout.write(datetime.datetime.now().strftime("%B %d, %Y - %X"))
        self.stdout.write(
            f"Django version {self.get_version()}, using settings {settings.SETTINGS_MODULE!r}\n"
            f"Starting Channels development server at {self.protocol}://"
            f"{address}:{self.port}/\n"
            f"Channel layer {layer}\n"
            f"Quit the server with {quit_command}.\n"
        )
        worker_thread = None
        if options.get("run_worker", True):
            # One Worker with 4 loops (1 with --nothreading), as 1.1.8's four WorkerThreads.
            worker_thread = WorkerThread(layer, self.logger, threads=4 if options.get("use_threading", True) else 1)
            worker_thread.start()
        try:
            self.run_interface_server(layer.channel_layer, options)
        except KeyboardInterrupt:
            shutdown_message = options.get("shutdown_message", "")
            if shutdown_message:
                self.stdout.write(shutdown_message)
        finally:
            if worker_thread is not None:
                worker_thread.stop()
                worker_thread.join(worker_thread.worker.drain_timeout + 10)

    def build_server_config(self, options: Any) -> Any:
        """The interface server's ``Config`` for this runserver's address and options."""
        from interfaceserver.config import Config, build_endpoints

        return Config(
            # The layer object is handed to the server directly; this only labels it.
            channel_layer=f"{settings.SETTINGS_MODULE}:CHANNEL_LAYERS[{DEFAULT_CHANNEL_LAYER!r}]",
            endpoints=build_endpoints(host=self.addr, port=int(self.port)),
            http_timeout=float(self.http_timeout),
            websocket_handshake_timeout=float(self.websocket_handshake_timeout),
            ws_protocols=tuple(getattr(settings, "CHANNELS_WS_PROTOCOLS", None) or ()),
            root_path=getattr(settings, "FORCE_SCRIPT_NAME", "") or "",
            verbosity=min(int(self.verbosity), 3),
            # A development server should stop (and reload) quickly.
            drain_timeout=5,
        )

    def run_interface_server(self, raw_layer: Any, options: Any) -> None:
        """Run the interface server until the reactor stops (signals only when on the main thread)."""
        config = self.build_server_config(options)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        from twisted.internet import asyncioreactor

        asyncioreactor.install(loop)
        from twisted.internet import reactor as installed_reactor

        from interfaceserver.server import Server

        reactor: Any = installed_reactor

        server = Server(config, raw_layer, reactor)
        # The interface server's access-log hook (duck-typed: http() and websocket()).
        server.ctx.access_log = RunserverAccessLog(self)  # type: ignore[assignment]
        on_main_thread = threading.current_thread() is threading.main_thread()
        self.logger.debug("Interface server listening on %s:%s", self.addr, self.port)

        def started() -> None:
            server.start().addErrback(failed)

        def failed(failure: Any) -> None:
            self.stderr.write(f"Error: {failure.getErrorMessage()}")
            server.exit_code = 1
            reactor.stop()

        reactor.callWhenRunning(started)
        reactor.addSystemEventTrigger("before", "shutdown", server.drain)
        finished = threading.Event()
        if not on_main_thread:
            self._stop_before_interpreter_exit(reactor, server, finished)
        try:
            reactor.run(installSignalHandlers=on_main_thread)
        finally:
            finished.set()
            self._wake_reply_reader(raw_layer, server)
        if server.exit_code:
            raise CommandError("the interface server could not start")

    @staticmethod
    def _stop_before_interpreter_exit(reactor: Any, server: Any, finished: threading.Event) -> None:
        """Under the autoreloader the server runs in a daemon thread and a reload is ``sys.exit(3)``.

        Without this, the old process kept accepting requests while the interpreter shut down
        (answering 500: no new thread-pool work is allowed then). Hooks registered with
        ``threading._register_atexit`` run before the thread pools are shut down, newest first.
        """
        register = getattr(threading, "_register_atexit", None)
        if register is None:
            return

        def stop_reactor() -> None:
            if reactor.running:
                reactor.callFromThread(reactor.stop)
                finished.wait(server.config.drain_timeout + 5)

        register(stop_reactor)

    @staticmethod
    def _wake_reply_reader(raw_layer: Any, server: Any) -> None:
        """Unblock the reply reader's blocking receive (it runs in a pool thread the exit waits for)."""
        try:
            raw_layer.send(f"{server.ctx.prefix}runserver-exit", {"wake": True})
        except Exception:
            logger.debug("Could not wake the reply reader", exc_info=True)


def patch_staticfiles_runserver() -> None:
    """Make ``django.contrib.staticfiles``' ``runserver`` this one, whatever the INSTALLED_APPS order.

    Django picks the command of the first installed app that has it; with staticfiles listed
    before ``channels`` (the usual order) that is staticfiles' WSGI runserver. Channels 1.1.8 patched
    it the same way at app-ready time. This command already includes staticfiles' options.
    """
    from django.contrib.staticfiles.management.commands import runserver as staticfiles_runserver

    staticfiles_runserver.Command = Command
