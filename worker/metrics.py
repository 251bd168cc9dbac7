"""Prometheus metrics of one worker process, and the thread that serves them.

One process-wide :data:`METRICS` (a worker process runs one ``Worker``; its loops share it): how
many messages each channel's consumers handled and how long they took (one histogram per channel,
labelled by the routed channel name — process-specific names are cut to their ``prefix!`` so the
label set stays bounded), consumer exceptions per channel, and failed receives from the layer.

:func:`serve_metrics` answers ``/metrics`` and ``/healthz`` from a daemon thread (the worker's
loops block in receives; a thread is the simple way to answer a scrape at any time). ``/healthz``
is 200 while the worker is running and reaches its layer, 503 during an outage or a stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["METRICS", "WorkerMetrics", "channel_label", "serve_metrics"]

#: Consumer durations: from a tenth of a millisecond to a minute.
_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)


def channel_label(channel: str) -> str:
    """The label for ``channel``: its name, or for a process-specific / ``?`` channel its shared prefix."""
    for mark in "!?":
        if mark in channel:
            return channel[: channel.index(mark) + 1]
    return channel


class WorkerMetrics:
    """The worker's counters; see the module docstring."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._messages = Counter("channels_worker_messages", "Messages handled, by channel", ["channel"], registry=r)
        self._seconds = Histogram(
            "channels_worker_consume_seconds",
            "Time in the consumer, by channel",
            ["channel"],
            buckets=_BUCKETS,
            registry=r,
        )
        self._exceptions = Counter(
            "channels_worker_consumer_exceptions",
            "Consumers that raised (logged and dropped), by channel",
            ["channel"],
            registry=r,
        )
        self._layer_errors = Counter(
            "channels_worker_layer_errors", "Failed receives from the channel layer", registry=r
        )
        self._children: dict[str, tuple[Any, Any, Any]] = {}
        self._lock = threading.Lock()

    def _for(self, channel: str) -> tuple[Any, Any, Any]:
        label = channel_label(channel)
        children = self._children.get(label)
        if children is None:
            with self._lock:
                children = self._children.setdefault(
                    label, (self._messages.labels(label), self._seconds.labels(label), self._exceptions.labels(label))
                )
        return children

    def consumed(self, channel: str, seconds: float, failed: bool = False) -> None:
        """One message of ``channel`` was handled in ``seconds`` (``failed``: its consumer raised)."""
        messages, durations, exceptions = self._for(channel)
        messages.inc()
        durations.observe(seconds)
        if failed:
            exceptions.inc()

    def layer_error(self) -> None:
        self._layer_errors.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


METRICS = WorkerMetrics()


def serve_metrics(
    port: int, bind: str = "127.0.0.1", healthy: Callable[[], bool] = lambda: True, metrics: WorkerMetrics = METRICS
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` and ``/healthz`` on ``bind:port`` from a daemon thread; ``shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._answer(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                ok = healthy()
                self._answer(
                    200 if ok else 503, b"ok\n" if ok else b"unhealthy: channel layer unreachable or stopping\n"
                )
            else:
                self._answer(404, b"not found: try /metrics or /healthz\n")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds do not belong in the worker's log

    server = ThreadingHTTPServer((bind, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
