"""``manage.py runworker``: run consumers for the messages on a channel layer.

Options (1.1.8): ``--layer``, ``--only-channels`` / ``--exclude-channels`` (repeatable globs),
``--threads N``, ``-v 2`` (log every message). New: ``--drain-timeout`` (seconds a graceful stop waits
for messages in flight), ``--max-messages`` / ``--max-seconds`` (exit 0 after that much work, for a
supervisor to restart the worker fresh), ``--send-timeout`` (how long buffered sends retry a full
channel before they are dropped with a log line), ``--metrics-port`` / ``--metrics-bind`` (Prometheus
``/metrics`` and ``/healthz``) and ``--heartbeat-interval`` (how often the worker announces itself for
``channels_status``). See docs/worker.md and docs/operations.md.
"""

from __future__ import annotations

import sys
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import BaseCommand, CommandError, CommandParser

from channellayer.options import positive_parser
from channellayer.status import Heartbeat
from worker.log import setup_logger
from worker.management.layers import add_layer_argument, layer_from_options
from worker.message import Message
from worker.metrics import serve_metrics
from worker.pending import PendingMessageStore
from worker.signals import worker_process_ready
from worker.worker import Worker, WorkerGroup

__all__ = ["Command", "Worker", "WorkerGroup"]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("channels-classic")
    except Exception:
        return "unknown"


class Command(BaseCommand):
    help = "Runs the consumers of a channel layer's routing (a Channels 1 worker)."
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        add_layer_argument(parser)
        parser.add_argument(
            "--only-channels",
            action="append",
            dest="only_channels",
            help="Listen only on channels matching this glob (repeatable).",
        )
        parser.add_argument(
            "--exclude-channels",
            action="append",
            dest="exclude_channels",
            help="Do not listen on channels matching this glob (repeatable).",
        )
        parser.add_argument(
            "--threads",
            dest="threads",
            default=1,
            type=positive_parser(int),
            help="Number of worker threads in this process (default 1).",
        )
        parser.add_argument(
            "--drain-timeout",
            dest="drain_timeout",
            default=30.0,
            type=float,
            help="On SIGTERM/SIGINT, seconds to wait for messages in flight (default 30).",
        )
        parser.add_argument(
            "--max-messages",
            dest="max_messages",
            default=None,
            type=positive_parser(int),
            help="Exit cleanly after handling this many messages.",
        )
        parser.add_argument(
            "--max-seconds",
            dest="max_seconds",
            default=None,
            type=positive_parser(float),
            help="Exit cleanly after running this many seconds.",
        )
        parser.add_argument(
            "--send-timeout",
            dest="send_timeout",
            default=None,
            type=positive_parser(float),
            help="Seconds buffered sends retry a full channel before dropping "
            "(default: CHANNELS_BUFFERED_SEND_TIMEOUT or 5).",
        )
        parser.add_argument(
            "--metrics-port",
            dest="metrics_port",
            default=None,
            type=int,
            help="Serve Prometheus /metrics and /healthz on this port (0: any free port).",
        )
        parser.add_argument(
            "--metrics-bind",
            dest="metrics_bind",
            default="127.0.0.1",
            help="Address for --metrics-port (default 127.0.0.1).",
        )
        parser.add_argument(
            "--heartbeat-interval",
            dest="heartbeat_interval",
            default=5.0,
            type=positive_parser(float),
            help="Seconds between announcements of this worker on the layer (default 5).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options.get("verbosity", 1)
        self.logger = setup_logger("django.channels", self.verbosity)
        self.channel_layer = layer_from_options(options, cross_process=True)
        send_timeout = options.get("send_timeout") or getattr(settings, "CHANNELS_BUFFERED_SEND_TIMEOUT", None)
        if send_timeout is not None:
            PendingMessageStore.retry_time = float(send_timeout)
        if settings.DEBUG and apps.is_installed("django.contrib.staticfiles"):
            # The static files handler belongs with the HTTP side; only load it when it is used.
            from worker.staticfiles import StaticFilesConsumer

            self.channel_layer.router.check_default(http_consumer=StaticFilesConsumer())
        else:
            self.channel_layer.router.check_default()
        threads = options.get("threads") or 1
        # 1.1.8's keywords; the new options only when set, so a patched Worker sees 1.1.8's call.
        worker_kwargs: dict[str, Any] = {
            "channel_layer": self.channel_layer,
            "callback": self.consumer_called if self.verbosity > 1 else None,
            "only_channels": options.get("only_channels"),
            "exclude_channels": options.get("exclude_channels"),
        }
        for name, default in (("drain_timeout", 30.0), ("max_messages", None), ("max_seconds", None)):
            if options.get(name, default) != default:
                worker_kwargs[name] = options[name]
        worker: Worker
        # Worker / WorkerGroup are read from this module's globals at call time: 1.1.8 users' tests
        # patch channels.management.commands.runworker.Worker, which is this module.
        if threads == 1:
            self.logger.info("Using single-threaded worker.")
            worker = Worker(**worker_kwargs)
        else:
            self.logger.info("Using multi-threaded worker, %d thread(s).", threads)
            worker = WorkerGroup(n_threads=threads, **worker_kwargs)
        channels = worker.apply_channel_filters(sorted(self.channel_layer.router.channels))
        if not channels:
            raise CommandError(
                "No channels to listen on: the routing serves %s and the channel filters left none."
                % (", ".join(sorted(self.channel_layer.router.channels)) or "nothing")
            )
        self.logger.info("Running worker against channel layer %s", self.channel_layer)
        stop_operations = self.start_operations(worker, channels, options)
        worker_process_ready.send(sender=worker)
        worker.ready()
        try:
            worker.run()
        finally:
            stop_operations()
        exit_code = getattr(worker, "exit_code", 0)
        if isinstance(exit_code, int) and exit_code:
            sys.exit(exit_code)

    def start_operations(self, worker: Worker, channels: list[str], options: dict[str, Any]) -> Any:
        """``--metrics-port`` and the heartbeat (docs/operations.md); returns the function that stops both."""
        state = getattr(worker, "state", None)

        def healthy() -> bool:
            return state is None or (state.outage_since is None and not state.stopping)

        server = None
        if options.get("metrics_port") is not None:
            bind = options.get("metrics_bind") or "127.0.0.1"
            try:
                server = serve_metrics(options["metrics_port"], bind, healthy)
            except OSError as exc:
                raise CommandError(f"cannot serve metrics on {bind}:{options['metrics_port']}: {exc}") from exc
            self.logger.info("Metrics on http://%s:%d/metrics", bind, server.server_address[1])
        layer = getattr(self.channel_layer, "channel_layer", self.channel_layer)
        threads = options.get("threads") or 1

        def info() -> dict[str, Any]:
            return {
                "channels": channels,
                "served": getattr(state, "handled", 0),
                "threads": threads,
                "busy": len(getattr(state, "in_flight", ())),
                "version": _version(),
                "only_channels": options.get("only_channels"),
                "exclude_channels": options.get("exclude_channels"),
            }

        heartbeat = Heartbeat(layer, "worker", info, float(options.get("heartbeat_interval") or 5.0))
        heartbeat.start()

        def stop() -> None:
            heartbeat.stop()
            if server is not None:
                server.shutdown()

        return stop

    def consumer_called(self, channel: str, message: Message) -> None:
        """``-v 2``: one line per message."""
        self.logger.debug("%s", channel)
