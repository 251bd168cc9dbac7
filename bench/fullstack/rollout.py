"""Full stack, rollout under load: every worker replaced twice while HTTP and WebSocket clients keep
going; ours and legacy (the same mechanics as tests/e2e/test_e2e_rollout.py).

Two workers serve the project; 10 WebSockets echo in a loop (each frame waits for its echo, 10 s
allowed) and 3 keep-alive HTTP clients request /hello/ in a loop, all in the harness process. After
2 s of steady load, generation 2 (two new workers) starts, and once both listen generation 1 gets
SIGTERM; then generation 3 replaces generation 2 the same way; the load runs 2 s more. Counted:
sockets that closed (dropped), echoes that never came (lost), HTTP requests that failed (non-200 or a
connection error), worker exit codes, and the latency spike: the largest round trip while workers
were being replaced against the steady p99 before.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.stack import wait_listening
from tests.support.processes import RedisServer

from ..harness import Context, Table
from .common import label, log, med, order, percentile, raise_fd_limit, target
from .systems import Launcher, Running
from .wsclient import HttpConn, close_all, inbox, open_all, send_text

__all__ = ["run"]

SYSTEMS = ("ours", "legacy")
SOCKETS = 10
HTTP_CLIENTS = 3
WORKERS = 2
GENERATIONS = 2  # replacements of every worker


@dataclass
class Load:
    """What the clients saw: (start time, round trip ms) samples, and every failure."""

    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    ws: list[tuple[float, float]] = field(default_factory=list)
    http: list[tuple[float, float]] = field(default_factory=list)
    sent: int = 0
    received: int = 0
    failed_requests: int = 0
    failures: list[str] = field(default_factory=list)
    dropped: int = 0
    error: str = ""


async def _socket_loop(client: Any, index: int, load: Load) -> None:
    box = inbox(client)
    while not load.stop.is_set():
        text = f"{index}-{load.sent}"
        start = time.monotonic()
        send_text(client, text)
        load.sent += 1
        try:
            _, reply = await box.next(10.0)
        except asyncio.TimeoutError:
            load.failures.append(f"socket {index}: no echo of {text!r} within 10 s")
            return
        if reply != text:
            load.failures.append(f"socket {index}: sent {text!r}, got {reply!r}")
            return
        load.received += 1
        load.ws.append((start, (time.monotonic() - start) * 1000))


async def _http_loop(port: int, load: Load) -> None:
    conn = HttpConn(port)
    while not load.stop.is_set():
        start = time.monotonic()
        try:
            status, _ = await conn.get("/hello/", timeout=30)
            if status == 200:
                load.http.append((start, (time.monotonic() - start) * 1000))
            else:
                load.failed_requests += 1
                load.failures.append(f"HTTP {status}")
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            load.failed_requests += 1
            load.failures.append(f"HTTP {type(exc).__name__}")
            conn.close()
    conn.close()


async def _drive(port: int, load: Load) -> None:
    opened = await open_all(port, "/echo/", SOCKETS)
    if opened.failed:
        load.error = f"{opened.failed} sockets not accepted"
        load.ready.set()
        return
    load.ready.set()
    await asyncio.gather(
        *(_socket_loop(c, i, load) for i, c in enumerate(opened.clients)),
        *(_http_loop(port, load) for _ in range(HTTP_CLIENTS)),
    )
    load.dropped = sum(1 for c in opened.clients if c.closed.done())
    close_all(opened.clients)


def _rollout_round(launcher: Launcher, running: Running) -> dict[str, Any]:
    load = Load()
    thread = threading.Thread(target=lambda: asyncio.run(_drive(running.port, load)), daemon=True)
    thread.start()
    if not load.ready.wait(60) or load.error:
        load.stop.set()
        raise RuntimeError(f"rollout load did not start: {load.error}")
    time.sleep(2.0)
    rollout_start = time.monotonic()
    current = list(running.worker_processes)
    codes: list[int | None] = []
    for generation in range(2, 2 + GENERATIONS):
        fresh = [launcher.add_worker(running, f"fs-{running.system}-gen{generation}-{i}") for i in range(WORKERS)]
        for process in fresh:
            wait_listening(process)
        for process in current:
            process.send_signal(signal.SIGTERM)
        for process in current:
            try:
                codes.append(process.popen.wait(30))
            except Exception:  # noqa: BLE001 - a worker that does not stop is reported, then killed by stop()
                codes.append(None)
        current = fresh
        time.sleep(1.0)
    rollout_end = time.monotonic()
    time.sleep(2.0)
    load.stop.set()
    thread.join(60)
    steady_http = [ms for t, ms in load.http if t < rollout_start]
    steady_ws = [ms for t, ms in load.ws if t < rollout_start]
    during_http = [ms for t, ms in load.http if rollout_start <= t <= rollout_end]
    during_ws = [ms for t, ms in load.ws if rollout_start <= t <= rollout_end]
    return {
        "dropped": load.dropped,
        "lost": load.sent - load.received,
        "failed": load.failed_requests,
        "exit_codes": codes,
        "echoes": load.received,
        "requests": len(load.http),
        "steady_http_p99": percentile(steady_http, 0.99),
        "during_http_max": max(during_http, default=float("nan")),
        "steady_ws_p99": percentile(steady_ws, 0.99),
        "during_ws_max": max(during_ws, default=float("nan")),
        "rollout_s": rollout_end - rollout_start,
        "failures": load.failures[:5],
    }


def run(ctx: Context) -> list[Table]:
    raise_fd_limit()
    rounds = min(ctx.rounds, 2)
    results: dict[str, list[dict[str, Any]]] = {}
    redis = RedisServer()
    try:
        launcher = Launcher(ctx, redis)
        for round_number in range(rounds):
            for system in order(SYSTEMS, round_number):
                running = launcher.start(system, WORKERS)
                try:
                    result = _rollout_round(launcher, running)
                    results.setdefault(system, []).append(result)
                    log(f"rollout r{round_number} {system}: {result}")
                finally:
                    running.stop()
    finally:
        redis.stop()
    table = Table(
        title="Rollout under load: every worker replaced twice",
        method=(
            f"{WORKERS} workers; {SOCKETS} WebSockets echoing in a loop and {HTTP_CLIENTS} keep-alive HTTP "
            f"clients on /hello/; after 2 s, {GENERATIONS} generations of {WORKERS} new workers each replace the "
            "running ones (new ones listening first, then SIGTERM to the old). Totals over "
            f"{rounds} rounds; latencies: steady p99 before the rollout, largest round trip during it "
            "(medians over rounds)."
        ),
        columns=[
            "system",
            "dropped sockets",
            "lost messages",
            "failed requests",
            "old workers' exit codes",
            "echoes / requests served",
            "HTTP p99 steady ms",
            "HTTP max during ms",
            "WS p99 steady ms",
            "WS max during ms",
        ],
    )
    for system in SYSTEMS:
        runs = results.get(system)
        if not runs:
            continue
        codes = sorted({str(c) for r in runs for c in r["exit_codes"]})
        table.rows.append(
            [
                label(system),
                sum(r["dropped"] for r in runs),
                sum(r["lost"] for r in runs),
                sum(r["failed"] for r in runs),
                ", ".join(codes),
                f"{sum(r['echoes'] for r in runs)} / {sum(r['requests'] for r in runs)}",
                med(runs, "steady_http_p99"),
                med(runs, "during_http_max"),
                med(runs, "steady_ws_p99"),
                med(runs, "during_ws_max"),
            ]
        )
    ours = results.get("ours")
    if ours:
        bad = sum(r["dropped"] + r["lost"] + r["failed"] for r in ours)
        clean = all(c == 0 for r in ours for c in r["exit_codes"])
        failures = sorted({f for r in ours for f in r["failures"]})
        table.verdict = (
            "Target (issue 7) "
            + target(
                "rollout: zero dropped, lost or failed",
                bad == 0,
                f"{bad} in all; old workers {'all exited 0' if clean else 'did not all exit 0'}",
            )
            + (f". First failures: {'; '.join(failures[:5])}." if failures else ".")
        )
    return [table]
