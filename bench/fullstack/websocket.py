"""Full stack, WebSocket echo: 1 and 100 concurrent sockets echoing through ours, legacy and
Daphne 4 + Channels 4 (bench/fullstack/project: /echo/), each with 2 worker processes.

Clients run in the harness process (bench/fullstack/wsclient.py): every socket sends a frame, waits
for its echo, and sends the next, for a fixed time; round trips after a 0.5 s warm-up are kept.
messages/s = echoes received in the measured window / its length.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support.processes import RedisServer

from ..harness import Context, Table
from .common import label, log, med, order, percentile, raise_fd_limit, ratio, target
from .systems import Launcher
from .wsclient import close_all, echo_loop, open_all

__all__ = ["run"]

SYSTEMS = ("ours", "legacy", "daphne4")
SOCKETS = (1, 100)
WORKERS = 2


async def _echo(port: int, sockets: int, seconds: float) -> dict[str, Any]:
    opened = await open_all(port, "/echo/", sockets)
    if opened.failed:
        close_all(opened.clients)
        raise RuntimeError(f"{opened.failed} of {sockets} echo sockets were not accepted")
    rtts: list[float] = []
    start = time.monotonic()
    warm_until = start + 0.5
    until = warm_until + seconds
    counts = await asyncio.gather(
        *(echo_loop(c, f"s{i}", until, warm_until, rtts) for i, c in enumerate(opened.clients))
    )
    close_all(opened.clients)
    lost = sum(sent - received for sent, received in counts)
    return {
        "p50_ms": percentile(rtts, 0.5),
        "p99_ms": percentile(rtts, 0.99),
        "msgs_per_s": len(rtts) / seconds,
        "lost": lost,
        "samples": len(rtts),
    }


def run(ctx: Context) -> list[Table]:
    raise_fd_limit()
    rounds = min(ctx.rounds, 3)
    seconds = 2.0 if ctx.quick else 3.0
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    redis = RedisServer()
    launcher = Launcher(ctx, redis, redis_per_system=True)
    running = {}
    try:
        # All systems at once (a Redis each), the rounds interleaving them case by case.
        for system in SYSTEMS:
            running[system] = launcher.start(system, WORKERS)
        step = 0
        for round_number in range(rounds):
            for sockets in SOCKETS:
                step += 1
                for system in order(SYSTEMS, step):
                    result = asyncio.run(_echo(running[system].port, sockets, seconds))
                    results.setdefault((system, sockets), []).append(result)
                    log(f"ws echo r{round_number} {system} {sockets} sockets: {result}")
    finally:
        for started in running.values():
            started.stop()
        launcher.close()
        redis.stop()
    return [_table(results, rounds, seconds)]


def _table(results: dict[tuple[str, int], list[dict[str, Any]]], rounds: int, seconds: float) -> Table:
    table = Table(
        title="WebSocket echo through the whole stack (1 and 100 concurrent sockets)",
        method=(
            f"Each socket sends a text frame and waits for its echo before the next, for {seconds:g} s after a "
            f"0.5 s warm-up; {WORKERS} worker processes (Daphne 4: {WORKERS} processes on one socket, an async "
            f"consumer); clients in the harness process. All three run at once; {rounds} rounds interleave them, "
            "order alternating; "
            "medians of each round's percentile. Daphne 1.4.2 reads replies in its 50 ms poll mode."
        ),
        columns=["sockets", "system", "p50 ms", "p99 ms", "p99 × legacy", "messages/s", "× legacy msgs/s", "lost"],
    )
    fig: dict[tuple[str, int], dict[str, float]] = {}
    for key, runs in results.items():
        fig[key] = {
            "p50": med(runs, "p50_ms"),
            "p99": med(runs, "p99_ms"),
            "rate": med(runs, "msgs_per_s"),
            "lost": sum(r["lost"] for r in runs),
        }
    for sockets in SOCKETS:
        legacy = fig.get(("legacy", sockets), {})
        for system in SYSTEMS:
            f = fig.get((system, sockets))
            if f:
                table.rows.append(
                    [
                        sockets,
                        label(system),
                        f["p50"],
                        f["p99"],
                        ratio(f["p99"], legacy.get("p99", 0)),
                        f["rate"],
                        ratio(f["rate"], legacy.get("rate", 0)),
                        int(f["lost"]),
                    ]
                )
    ours = fig.get(("ours", 1))
    if ours:
        table.verdict = (
            "Target (issue 7) "
            + target("WebSocket echo p99 ≤ 2 ms with 1 socket", ours["p99"] <= 2.0, f"{ours['p99']:.2f} ms")
            + "."
        )
    from . import charts

    groups = [f"{n} socket{'s' if n > 1 else ''}" for n in SOCKETS]
    table.verdict += "\n\n" + charts.grouped_bars(
        "fullstack-ws-echo.png",
        "WebSocket echo p99 round trip (lower is better, log scale)",
        groups,
        {s: [fig.get((s, n), {}).get("p99", float("nan")) for n in SOCKETS] for s in SYSTEMS},
        "p99 ms",
        "WebSocket echo p99 by system",
        log_scale=True,
    )
    return table
