"""Full stack, streaming and head-of-line blocking: one client downloads a large streamed response
(the project's /stream/ view: 64 KiB parts, one layer message each behind a worker) while a probe
client requests /hello/ on its own keep-alive connection.

Per round and system (2 worker processes, so the probe has a worker while one streams): the probe's
latency against the idle server (200 sequential requests), then curl downloads /stream/?mb=N to
/dev/null while the probe keeps requesting (sequentially, 5 ms apart) until the download ends.
Throughput = bytes / curl's total time. The issue measured the probe's median going 3.9 → 279 ms.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

from tests.support.processes import RedisServer

from ..harness import Context, Table
from .common import label, log, med, order, percentile, ratio, target
from .systems import Launcher
from .wsclient import HttpConn

__all__ = ["run"]

SYSTEMS = ("ours", "legacy", "gunicorn", "uvicorn")
WORKERS = 2


async def _probe(
    port: int, count: int | None, until: asyncio.Future[Any] | None, pause: float
) -> tuple[list[float], int]:
    """Sequential GET /hello/ on one connection: ``count`` of them, or until ``until`` is done."""
    conn = HttpConn(port)
    times: list[float] = []
    failures = 0
    try:
        while (count is not None and len(times) + failures < count) or (until is not None and not until.done()):
            start = time.monotonic()
            try:
                status, _ = await conn.get("/hello/")
                if status != 200:
                    failures += 1
                else:
                    times.append((time.monotonic() - start) * 1000)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                failures += 1
                conn.close()
            if pause:
                await asyncio.sleep(pause)
    finally:
        conn.close()
    return times, failures


async def _stream_round(port: int, megabytes: int) -> dict[str, Any]:
    idle, idle_failures = await _probe(port, 200, None, 0.0)
    started = time.monotonic()
    curl = await asyncio.create_subprocess_exec(
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "--max-time",
        "180",
        "-w",
        "%{http_code} %{size_download} %{time_total}",
        f"http://127.0.0.1:{port}/stream/?mb={megabytes}",
        stdout=subprocess.PIPE,
    )
    finished: asyncio.Future[Any] = asyncio.ensure_future(curl.communicate())
    loaded, loaded_failures = await _probe(port, None, finished, 0.005)
    out, _ = await finished
    code, size, total = out.decode().split()
    return {
        "status": int(code),
        "bytes": int(size),
        "complete": int(size) == megabytes * 1024 * 1024,
        "mb_per_s": int(size) / 1024 / 1024 / max(float(total), 1e-6),
        "seconds": time.monotonic() - started,
        "idle_p50": percentile(idle, 0.5),
        "idle_p99": percentile(idle, 0.99),
        "load_p50": percentile(loaded, 0.5),
        "load_p99": percentile(loaded, 0.99),
        "probes": len(loaded),
        "probe_failures": idle_failures + loaded_failures,
    }


def run(ctx: Context) -> list[Table]:
    rounds = min(ctx.rounds, 2)
    megabytes = 30 if ctx.quick else 300
    results: dict[str, list[dict[str, Any]]] = {}
    redis = RedisServer()
    try:
        launcher = Launcher(ctx, redis)
        for round_number in range(rounds):
            for system in order(SYSTEMS, round_number):
                running = launcher.start(system, WORKERS)
                try:
                    result = asyncio.run(_stream_round(running.port, megabytes))
                    results.setdefault(system, []).append(result)
                    log(f"streaming r{round_number} {system}: {result}")
                finally:
                    running.stop()
    finally:
        redis.stop()
    table = Table(
        title=f"Streaming {megabytes} MB while a probe requests /hello/ (head-of-line blocking)",
        method=(
            f"curl downloads a {megabytes} MiB StreamingHttpResponse (64 KiB parts) while a probe client makes "
            "sequential keep-alive requests to /hello/ (5 ms apart); the probe's idle figures are 200 requests "
            f"just before. {WORKERS} workers, {rounds} rounds, fresh servers, order alternating, medians."
        ),
        columns=[
            "system",
            "MB/s",
            "MB/s × legacy",
            "MB/s × gunicorn",
            "complete downloads",
            "probe idle p50 ms",
            "probe idle p99 ms",
            "probe p50 ms while streaming",
            "probe p99 ms while streaming",
            "p50 × idle",
            "probe failures",
        ],
    )
    for system in SYSTEMS:
        runs = results.get(system)
        if not runs:
            continue
        idle50, load50 = med(runs, "idle_p50"), med(runs, "load_p50")
        rate = med(runs, "mb_per_s")
        table.rows.append(
            [
                label(system),
                rate,
                ratio(rate, med(results.get("legacy", []), "mb_per_s")),
                ratio(rate, med(results.get("gunicorn", []), "mb_per_s")),
                f"{sum(r['complete'] for r in runs)}/{len(runs)}",
                idle50,
                med(runs, "idle_p99"),
                load50,
                med(runs, "load_p99"),
                f"{load50 / idle50:.1f}×",
                sum(r["probe_failures"] for r in runs),
            ]
        )
    ours = results.get("ours")
    if ours:
        idle50, load50 = med(ours, "idle_p50"), med(ours, "load_p50")
        complete = all(r["complete"] for r in ours)
        table.verdict = (
            "Target (issue 7) "
            + target(
                "streaming: probe p50 ≤ 3× its idle value",
                load50 <= 3 * idle50 and complete,
                f"{load50:.2f} ms vs idle {idle50:.2f} ms = {load50 / idle50:.1f}×; {med(ours, 'mb_per_s'):.0f} MB/s"
                + ("" if complete else "; a download did not complete"),
            )
            + "."
        )
    from . import charts

    shown = [s for s in SYSTEMS if s in results]
    table.verdict += "\n\n" + charts.grouped_bars(
        "fullstack-streaming-probe.png",
        "Probe /hello/ p50 during a large stream (lower is better, log scale)",
        ["idle server", "while streaming"],
        {s: [med(results[s], "idle_p50"), med(results[s], "load_p50")] for s in shown},
        "p50 ms",
        "Probe latency idle and while streaming",
        log_scale=True,
    )
    return [table]
