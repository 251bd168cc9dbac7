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
then the workers finish the messages in flight and the command exits. Under the autoreloader the
main thread stops the server (:meth:`Command.run`) before a reload or an exit.
"""

from __future__ import annotations

import datetime
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserverCommand
from django.core.management.base import CommandError

from ...asgi import DEFAULT_CHANNEL_LAYER, channel_layers
from ...devserver import DevServer
from ...handler import ViewConsumer
from ...log import setup_logger
from ...staticfiles import StaticFilesConsumer
from ...worker import Worker

__all__ = ["Command", "WorkerThread", "patch_staticfiles_runserver"]

logger = logging.getLogger("django.channels")

_WEBSOCKET_WORDS = {
    "connecting": "HANDSHAKING",
    "connected": "CONNECT",
    "rejected": "REJECT",
    "disconnected": "DISCONNECT",
}


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
    #: Built with 1.1.8's ``daphne.server.Server`` keywords (:meth:`server_kwargs`); tests patch it.
    server_cls: Any = DevServer

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--noworker",
            action="store_false",
            dest="run_worker",
            default=True,
            help="Tells Django not to run worker threads; you'll need to run runworker separately.",
        )
        parser.add_argument(
            "--noasgi",
            action="store_false",
            dest="use_asgi",
            default=True,
            help="Run Django's WSGI runserver rather than the channels one.",
        )
        parser.add_argument(
            "--http_timeout",
            "--http-timeout",
            action="store",
            dest="http_timeout",
            type=float,
            default=60,
            help="Seconds an HTTP request may wait for its response (default: 60).",
        )
        parser.add_argument(
            "--websocket_handshake_timeout",
            "--websocket-handshake-timeout",
            action="store",
            dest="websocket_handshake_timeout",
            type=float,
            default=5,
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

    _server: Any = None

    def run(self, **options: Any) -> None:
        """Django's ``run`` (with or without the autoreloader); then stop the interface server if it still runs.

        Under the autoreloader the server runs in Django's daemon thread while this, the main
        thread, watches the files: a reload (``sys.exit(3)``), SIGTERM (``sys.exit(0)``) or Ctrl-C
        ends this call first. Stopping the server here, before the interpreter shuts its thread
        pools down, makes the old process refuse requests (the new one is starting) instead of
        failing them with 500.
        """
        try:
            super().run(**options)
        finally:
            stop = getattr(self._server, "stop", None)  # a server_cls patched in by a test may have none
            if stop is not None:
                stop()

    def inner_run(self, *args: Any, **options: Any) -> None:
        if not options.get("use_asgi", True) or DEFAULT_CHANNEL_LAYER not in channel_layers:
            # Django's WSGI runserver reads server_cls too: give it Django's server back.
            self.server_cls = StaticfilesRunserverCommand.server_cls
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
            self.logger.debug("Interface server listening on %s:%s", self.addr, self.port)
            server = self._server = self.server_cls(**self.server_kwargs(options))
            server.run()
            if getattr(server, "exit_code", 0) == 1:
                raise CommandError("the interface server could not start")
        except KeyboardInterrupt:
            shutdown_message = options.get("shutdown_message", "")
            if shutdown_message:
                self.stdout.write(shutdown_message)
        finally:
            if worker_thread is not None:
                worker_thread.stop()
                worker_thread.join(worker_thread.worker.drain_timeout + 10)

    def server_kwargs(self, options: Any) -> dict[str, Any]:
        """The keywords for :attr:`server_cls`: exactly those 1.1.8 passed to ``daphne.server.Server``."""
        from interfaceserver.config import build_endpoints

        return {
            "channel_layer": channel_layers[DEFAULT_CHANNEL_LAYER],
            "endpoints": list(build_endpoints(host=self.addr, port=int(self.port))),
            "signal_handlers": not options.get("use_reloader", True),
            "action_logger": self.log_action,
            "http_timeout": self.http_timeout,
            "ws_protocols": getattr(settings, "CHANNELS_WS_PROTOCOLS", None),
            "root_path": getattr(settings, "FORCE_SCRIPT_NAME", "") or "",
            "websocket_handshake_timeout": self.websocket_handshake_timeout,
        }

    def log_action(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        """One console line per event, in 1.1.8's format (Daphne's ``action_logger`` hook).

        ``[2026/11/21 17:00:00] HTTP GET /path?q=1 200 [0.01, 127.0.0.1:5000]`` (seconds taken, then
        the client; styled by status); ``WebSocket HANDSHAKING|CONNECT|REJECT|DISCONNECT /path [client]``.
        An unknown action prints the time stamp only, as 1.1.8 did.
        """
        line = f"[{datetime.datetime.now():%Y/%m/%d %H:%M:%S}] "
        client = details.get("client") or "-"
        if protocol == "http" and action == "complete":
            taken = details.get("time_taken")
            taken_text = f"{taken:.2f}, " if taken is not None else ""
            status = details.get("status")
            line += f"HTTP {details['method']} {details['path']} {status} [{taken_text}{client}]\n"
            line = self._style_for(status or 0)(line)
        elif protocol == "websocket" and action in _WEBSOCKET_WORDS:
            line += f"WebSocket {_WEBSOCKET_WORDS[action]} {details['path']} [{client}]\n"
        sys.stderr.write(line)

    def _style_for(self, code: int) -> Callable[[str], str]:
        """Django's colour for a status, as its own runserver picks it."""
        if 200 <= code < 300:
            name = "HTTP_SUCCESS"
        elif 100 <= code < 200:
            name = "HTTP_INFO"
        elif code == 304:
            name = "HTTP_NOT_MODIFIED"
        elif 300 <= code < 400:
            name = "HTTP_REDIRECT"
        elif code == 404:
            name = "HTTP_NOT_FOUND"
        elif 400 <= code < 500:
            name = "HTTP_BAD_REQUEST"
        else:
            name = "HTTP_SERVER_ERROR"
        style: Callable[[str], str] = getattr(self.style, name)
        return style


def patch_staticfiles_runserver() -> None:
    """Make ``django.contrib.staticfiles``' ``runserver`` this one, whatever the INSTALLED_APPS order.

    Django picks the command of the first installed app that has it; with staticfiles listed
    before ``channels`` (the usual order) that is staticfiles' WSGI runserver. Channels 1.1.8 patched
    it the same way at app-ready time. This command already includes staticfiles' options.
    """
    from django.contrib.staticfiles.management.commands import runserver as staticfiles_runserver

    staticfiles_runserver.Command = Command
