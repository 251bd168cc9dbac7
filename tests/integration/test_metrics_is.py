"""Prometheus metrics and /healthz of the real ``daphne`` process after known traffic (real Redis, echo worker)."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import websocket
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.is_support import Daphne, env_for, start_worker
from tests.support.processes import reported_port

pytestmark = [pytest.mark.redis]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` as {(name, sorted labels): value}."""
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def start_daphne(url: str, *args: str, **env: str) -> tuple[Daphne, int]:
    """A daphne and the port of its metrics endpoint (bound to port 0, read from its log: no race for it)."""
    server = Daphne(url, "--metrics-port", "0", *args, env=env_for(url, **env))
    return server, reported_port(server.process, timeout=10)


def test_counts_after_known_traffic(redis_db):
    """N requests answered 200 give N in the 200 counter, the first-byte histogram, and messages in and out."""
    url = redis_db.url
    server, port = start_daphne(url)
    worker = start_worker(url)
    try:
        with requests.Session() as session:
            for _ in range(7):
                assert session.get(server.url + "/", timeout=5).text == "hello"
        ws = websocket.create_connection(server.ws_url + "/ws/echo", timeout=5)
        ws.send("hi")
        assert ws.recv() == "hi"
        metrics = scrape(port)
        assert metrics[("channels_interface_http_responses_total", (("code", "200"),))] == 7
        assert metrics[("channels_interface_response_start_seconds_count", ())] == 7
        assert metrics[("channels_interface_response_start_seconds_bucket", (("le", "+Inf"),))] == 7
        assert 0 < metrics[("channels_interface_response_start_seconds_sum", ())] < 7 * 5
        # 7 http.request + websocket.connect + websocket.receive went out; 7 replies + accept + echo came in.
        assert metrics[("channels_interface_messages_sent_total", ())] == 9
        assert metrics[("channels_interface_messages_received_total", ())] == 9
        assert metrics[("channels_interface_open_websockets", ())] == 1
        assert metrics[("channels_interface_open_connections", ())] == 1
        assert metrics[("channels_interface_refusals_total", (("cause", "queue_full"),))] == 0
        assert metrics[("channels_interface_layer_errors_total", ())] == 0
        ws.close()
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert (health.status_code, health.text) == (200, "ok\n")
        assert requests.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404
        # The application's port never serves the metrics: /metrics there is an ordinary request.
        assert "channels_interface" not in requests.get(server.url + "/metrics", timeout=5).text
    finally:
        server.stop()
        worker.stop()


def test_full_queue_and_timeout_are_counted_by_cause(redis_db):
    """One 503 for a full http.request is cause queue_full (and one ChannelFull); unanswered ones are timeout."""
    url = redis_db.url
    server, port = start_daphne(url, "-t", "1.5", IS_CAPACITY="2")
    try:
        waiting = [
            threading.Thread(target=requests.get, args=(server.url + "/queued",), kwargs={"timeout": 10})
            for _ in range(2)
        ]
        for thread in waiting:
            thread.start()
        time.sleep(0.5)
        assert requests.get(server.url + "/third", timeout=10).status_code == 503
        for thread in waiting:
            thread.join(10)
        metrics = scrape(port)
        assert metrics[("channels_interface_refusals_total", (("cause", "queue_full"),))] == 1
        assert metrics[("channels_interface_channel_full_total", ())] == 1
        assert metrics[("channels_interface_refusals_total", (("cause", "timeout"),))] == 2
        assert metrics[("channels_interface_http_responses_total", (("code", "503"),))] == 3
        assert ("channels_interface_http_responses_total", (("code", "200"),)) not in metrics
        # No reply was ever sent, so nothing reached the first-byte histogram.
        assert metrics[("channels_interface_response_start_seconds_count", ())] == 0
    finally:
        server.stop()


def test_healthz_fails_while_the_layer_is_down(own_redis):
    """/healthz answers 503 while the reply reader cannot reach Redis, and the failures are layer errors."""
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    server, port = start_daphne(url)
    try:
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        own_redis.stop()
        deadline = time.monotonic() + 15
        while requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code != 503:
            assert time.monotonic() < deadline, "healthz never turned 503"
            time.sleep(0.1)
        assert scrape(port)[("channels_interface_layer_errors_total", ())] >= 1
    finally:
        server.stop()


def test_http2_responses_are_counted(redis_db, tmp_path):
    """Responses on HTTP/2 streams reach the same counters and histogram as HTTP/1.1 ones."""
    from tests.integration.test_is_tls import h2_request
    from tests.support.tls import make_self_signed

    url = redis_db.url
    key, cert = make_self_signed(tmp_path)
    server = Daphne(
        url,
        "--metrics-port",
        "0",
        listen=lambda port: ["-e", f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"],
        env=env_for(url),
    )
    port = server.port
    worker = start_worker(url)
    try:
        metrics_port = reported_port(server.process, timeout=10)
        headers = [(":method", "GET"), (":path", "/"), (":scheme", "https"), (":authority", "localhost")]
        for _ in range(3):
            status, body = h2_request(port, headers)
            assert (status, body) == (b"200", b"hello")
        metrics = scrape(metrics_port)
        assert metrics[("channels_interface_http_responses_total", (("code", "200"),))] == 3
        assert metrics[("channels_interface_response_start_seconds_count", ())] == 3
    finally:
        server.stop()
        worker.stop()
