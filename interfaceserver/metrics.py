"""Prometheus metrics of one interface-server process, and the endpoint that serves them.

Every process has one :class:`Metrics` (its own registry, so servers built in one test process do
not collide). The hot path only increments pre-bound counter children and observes one histogram
per response — no label lookups, no per-path labels: responses are labelled by status code,
refusals by cause. Open connections and WebSockets are gauges computed at scrape time from the
connection set, so opening a socket costs nothing extra.

:func:`listen_metrics` serves ``/metrics`` (Prometheus text format) and ``/healthz`` (200 while the
reply reader reaches the layer and the server is not draining, else 503) from a ``twisted.web``
site on its own port: on the reactor thread, never on the application's port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["REFUSAL_CAUSES", "Metrics", "listen_metrics"]

#: Why a request or WebSocket handshake got a 503.
REFUSAL_CAUSES = ("queue_full", "layer_unavailable", "timeout", "draining", "body_budget")

#: Time to first response byte: from a millisecond to the default 120 s http_timeout.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """The interface server's counters; see the module docstring for names and costs."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Gauge(
            "channels_interface_open_connections", "Open client connections (any protocol)", registry=r
        )
        self.websockets = Gauge("channels_interface_open_websockets", "Open (accepted) WebSockets", registry=r)
        self._responses = Counter(
            "channels_interface_http_responses", "HTTP responses by status code", ["code"], registry=r
        )
        self._by_code: dict[int, Any] = {}
        self._sent = Counter("channels_interface_messages_sent", "Messages the channel layer took from us", registry=r)
        self._received = Counter(
            "channels_interface_messages_received", "Replies read from the channel layer", registry=r
        )
        self._first_byte = Histogram(
            "channels_interface_response_start_seconds",
            "From the request head to the first response byte",
            buckets=_BUCKETS,
            registry=r,
        )
        refusals = Counter("channels_interface_refusals", "503 answers by cause", ["cause"], registry=r)
        self._refusals = {cause: refusals.labels(cause) for cause in REFUSAL_CAUSES}
        self._layer_errors = Counter(
            "channels_interface_layer_errors", "Failed channel-layer operations (send batches, reply reads)", registry=r
        )
        self._channel_full = Counter("channels_interface_channel_full", "Sends refused with ChannelFull", registry=r)

    def bind(self, connections: Callable[[], float], websockets: Callable[[], float]) -> None:
        """Read the two gauges from these functions at scrape time."""
        self.connections.set_function(connections)
        self.websockets.set_function(websockets)

    def response(self, code: int) -> None:
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._responses.labels(str(code))
        child.inc()

    def response_started(self, seconds: float) -> None:
        self._first_byte.observe(seconds)

    def refused(self, cause: str) -> None:
        self._refusals[cause].inc()

    def sent(self, delivered: int, full: int) -> None:
        if delivered:
            self._sent.inc(delivered)
        if full:
            self._channel_full.inc(full)

    def received(self, count: int) -> None:
        self._received.inc(count)

    def layer_error(self) -> None:
        self._layer_errors.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _resource(metrics: Metrics, healthy: Callable[[], bool]) -> Any:
    from twisted.web.resource import Resource

    class Page(Resource):
        isLeaf = True

        def render_GET(self, request: Any) -> bytes:
            if request.path == b"/metrics":
                request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode())
                return metrics.render()
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            if request.path == b"/healthz":
                if healthy():
                    return b"ok\n"
                request.setResponseCode(503)
                return b"unhealthy: channel layer unreachable or draining\n"
            request.setResponseCode(404)
            return b"not found: try /metrics or /healthz\n"

    return Page()


def listen_metrics(
    reactor: Any, metrics: Metrics, healthy: Callable[[], bool], port: int, interface: str = "127.0.0.1"
) -> Any:
    """Listen for ``/metrics`` and ``/healthz`` on ``interface:port``; returns the listening port."""
    from twisted.web.server import Site

    site = Site(_resource(metrics, healthy))
    site.noisy = False
    site.log = lambda request: None  # type: ignore[method-assign]  # scrapes stay out of the access log
    return reactor.listenTCP(port, site, interface=interface)
