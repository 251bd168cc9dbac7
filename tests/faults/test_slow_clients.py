"""Slowloris, slow readers, stalled uploads and abandoned connections at once: bounded memory, a served probe."""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time

from tests.faults.support import PROFILE, cpu_seconds, fault_stack, probe, record, rss_kib

UPLOAD = 510 * 1024
SENT = 500 * 1024


def connect(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader's window stays small
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def probes(port: int, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        latency, status = probe(port)
        assert status == 200
        latencies.append(latency)
        time.sleep(0.05)
    return latencies


def test_slow_and_abandoned_clients(own_redis):
    """RSS stays bounded under the attack and falls back after it; a fresh client is served in < 200 ms throughout."""
    with fault_stack(own_redis, workers=2) as (stack, server, workers):
        port = stack.port
        quiet = probes(port, 10)
        rss_start = rss_kib(server.pid)
        attack: list[socket.socket] = []
        stop = threading.Event()
        attack_started = time.monotonic()
        cpu_before = {p.name: cpu_seconds(p.pid) for p in stack.processes}
        try:
            for _ in range(PROFILE.abandoned):
                attack.append(connect(port))
            loris = [connect(port) for _ in range(PROFILE.slowloris)]
            for sock in loris:
                sock.sendall(b"GET /hello/ HTTP/1.1\r\nHost: x\r\n")
            attack += loris

            def trickle() -> None:  # one header byte per socket every 0.2 s: never a complete head
                n = 0
                while not stop.wait(0.2):
                    n += 1
                    for sock in loris:
                        with contextlib.suppress(OSError):
                            sock.sendall(b"X-%d: y\r\n" % n if n % 2 else b"")

            trickler = threading.Thread(target=trickle, daemon=True)
            trickler.start()
            for _ in range(PROFILE.slow_readers):
                sock = connect(port)
                sock.sendall(b"GET /big/ HTTP/1.1\r\nHost: x\r\n\r\n")  # 3 MiB answer, never read
                attack.append(sock)
            for _ in range(PROFILE.stalled_uploads):
                sock = connect(port)
                sock.sendall(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % UPLOAD)
                sock.sendall(b"u" * SENT)  # and never the rest
                attack.append(sock)
            set_up = time.monotonic() - attack_started
            # The first probe may wait for a worker: the workers are busy producing the slow readers'
            # responses (3 MiB each: 300 MiB in the long form). Recorded, then the steady state is measured.
            queued = own_redis.client().llen("asgi:http.request")  # what the first probe queues behind
            first_probe = probes(port, 1)[0]
            cpu_used = {
                name: round(cpu_seconds(p.pid) - cpu_before[p.name], 2) for p in stack.processes for name in [p.name]
            }
            assert first_probe < 10
            time.sleep(PROFILE.settle)
            under_attack = probes(port, 20)
            rss_peak = rss_kib(server.pid)
            assert server.alive()
        finally:
            stop.set()
            for sock in attack:
                sock.close()
        time.sleep(3.0)
        after = probes(port, 10)
        rss_end = rss_kib(server.pid)
        print(
            "slow clients:",
            dict(quiet=statistics.median(quiet), attack=under_attack, rss=(rss_start, rss_peak, rss_end)),
        )
        assert stack.all_alive() == []
        assert statistics.median(under_attack) < 0.2, under_attack
        assert max(under_attack) < 1.0, under_attack
        assert statistics.median(after) < 0.2, after
        grown = (rss_peak - rss_start) / 1024
        kept = (rss_end - rss_start) / 1024
        body_mib = PROFILE.stalled_uploads * SENT / 2**20
        # Bounded: the buffered upload bodies plus a few KiB per connection, not a copy per event.
        assert grown < body_mib + 40 + PROFILE.abandoned * 0.02, (grown, body_mib)
        record(
            "slow and abandoned clients",
            connections=len(attack),
            abandoned=PROFILE.abandoned,
            slowloris=PROFILE.slowloris,
            slow_readers=PROFILE.slow_readers,
            stalled_uploads=PROFILE.stalled_uploads,
            attack_set_up_s=round(set_up, 1),
            first_probe_ms=round(first_probe * 1000, 1),
            requests_queued_before_first_probe=queued,
            cpu_s_until_first_probe=cpu_used,
            probe_quiet_ms=round(statistics.median(quiet) * 1000, 1),
            probe_attack_median_ms=round(statistics.median(under_attack) * 1000, 1),
            probe_attack_max_ms=round(max(under_attack) * 1000, 1),
            rss_start_mib=round(rss_start / 1024, 1),
            rss_peak_mib=round(rss_peak / 1024, 1),
            rss_end_mib=round(rss_end / 1024, 1),
            grown_mib=round(grown, 1),
            kept_mib=round(kept, 1),
        )
        assert kept < max(10.0, grown * 0.5), (kept, grown)
