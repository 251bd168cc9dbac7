"""Worker counters: per-channel counts and durations, consumer exceptions, layer errors, and the /metrics thread."""

from __future__ import annotations

import requests

from channellayer import BackendUnavailable
from tests.unit.worker_helpers import memory_layer, run_pending
from worker.loop import LoopState
from worker.metrics import METRICS, WorkerMetrics, channel_label, serve_metrics
from worker.routing import route


def sample(name, **labels):
    return METRICS.registry.get_sample_value(name, labels) or 0.0


def test_labels_stay_bounded():
    """Process-specific and ? channels are labelled by their shared prefix; normal channels by name."""
    assert channel_label("http.request") == "http.request"
    assert channel_label("daphne.response.Abc!xyz") == "daphne.response.Abc!"
    assert channel_label("http.request.body?Qwe") == "http.request.body?"


def test_handled_messages_and_exceptions_are_counted_per_channel():
    """Two messages on metrics.ok and one raising on metrics.bad: counts, histogram counts and one exception."""

    def ok(message):
        pass

    def bad(message):
        raise RuntimeError("boom")

    before = {
        name: sample(name, channel=channel)
        for name in (
            "channels_worker_messages_total",
            "channels_worker_consume_seconds_count",
            "channels_worker_consumer_exceptions_total",
        )
        for channel in ("metrics.ok", "metrics.bad")
    }
    with memory_layer([route("metrics.ok", ok), route("metrics.bad", bad)]) as layer:
        layer.send("metrics.ok", {"n": 1})
        layer.send("metrics.ok", {"n": 2})
        layer.send("metrics.bad", {"n": 3})
        assert run_pending(layer) == 3

    def delta(name, channel):
        return sample(name, channel=channel) - before.get(name, 0.0)

    assert delta("channels_worker_messages_total", "metrics.ok") == 2
    assert delta("channels_worker_consume_seconds_count", "metrics.ok") == 2
    assert delta("channels_worker_consumer_exceptions_total", "metrics.ok") == 0
    assert delta("channels_worker_messages_total", "metrics.bad") == 1
    assert delta("channels_worker_consumer_exceptions_total", "metrics.bad") == 1


def test_layer_failures_are_counted():
    """Each failed receive reported to the loop state adds one layer error."""
    before = sample("channels_worker_layer_errors_total")
    state = LoopState()
    state.layer_failed(BackendUnavailable("down"))
    state.layer_failed(BackendUnavailable("still down"))
    assert sample("channels_worker_layer_errors_total") - before == 2


def test_metrics_thread_serves_metrics_and_health():
    """serve_metrics answers /metrics in the text format, /healthz by the health function, 404 elsewhere."""
    metrics = WorkerMetrics()
    metrics.consumed("x.y", 0.01)
    healthy = [True]
    server = serve_metrics(0, "127.0.0.1", lambda: healthy[0], metrics)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        page = requests.get(base + "/metrics", timeout=5)
        assert page.status_code == 200 and 'channels_worker_messages_total{channel="x.y"} 1.0' in page.text
        assert requests.get(base + "/healthz", timeout=5).text == "ok\n"
        healthy[0] = False
        assert requests.get(base + "/healthz", timeout=5).status_code == 503
        assert requests.get(base + "/", timeout=5).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
