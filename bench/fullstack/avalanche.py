"""Full stack, connection avalanche: 1,000 WebSocket clients connect at once (all handshakes in
flight together, no retry) to /echo/, whose connect consumer accepts; ours, legacy and Daphne 4 +
Channels 4, 2 worker processes each.

accepted % = sockets that got their 101 within 15 s; "all accepted" = time from the first connect
attempt until the last 101 (only when every socket was accepted; otherwise until the last one that was).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.processes import RedisServer

from ..harness import Context, Table
from .common import label, log, med, order, percentile, raise_fd_limit, target
from .systems import Launcher
from .wsclient import close_all, open_many

__all__ = ["run"]

SYSTEMS = ("ours", "legacy", "daphne4")
CLIENTS = 1000
WORKERS = 2
TIMEOUT = 15.0  # seconds a client waits for its 101


async def _avalanche(port: int) -> dict[str, Any]:
    opened = await open_many(port, "/echo/", CLIENTS, CLIENTS, timeout=TIMEOUT)
    close_all(opened.clients)
    await asyncio.sleep(0.5)
    times = opened.accept_times
    return {
        "accepted_pct": 100.0 * len(opened.clients) / CLIENTS,
        "all_s": times[-1] if times else float("nan"),
        "p50_s": percentile(times, 0.5),
        "complete": not opened.failed,
        "refusals": opened.refusals,
    }


def _refusals(runs: list[dict[str, Any]]) -> str:
    total: dict[str, int] = {}
    for r in runs:
        for why, count in r["refusals"].items():
            total[why] = total.get(why, 0) + count
    return "; ".join(f"{count}× {why}" for why, count in sorted(total.items(), key=lambda i: -i[1])) or "none"


def run(ctx: Context) -> list[Table]:
    raise_fd_limit()
    rounds = min(ctx.rounds, 3)
    results: dict[str, list[dict[str, Any]]] = {}
    redis = RedisServer()
    try:
        launcher = Launcher(ctx, redis)
        for round_number in range(rounds):
            for system in order(SYSTEMS, round_number):
                running = launcher.start(system, WORKERS)
                try:
                    result = asyncio.run(_avalanche(running.port))
                    results.setdefault(system, []).append(result)
                    log(f"avalanche r{round_number} {system}: {result}")
                finally:
                    running.stop()
    finally:
        redis.stop()
    table = Table(
        title=f"Connection avalanche: {CLIENTS:,} WebSocket clients at once",
        method=(
            f"{CLIENTS:,} handshakes started together from the harness process (source addresses rotating "
            f"over 127.0.0.2–33), no retry, {TIMEOUT:g} s timeout; {WORKERS} workers accept through the connect "
            f"consumer. {rounds} rounds, a fresh server each, order alternating. accepted % is the worst "
            "round's; times are medians (seconds from the first attempt)."
        ),
        columns=[
            "system",
            "accepted % (worst)",
            "rounds with all accepted",
            "median accept s",
            "last accept s",
            "refused (all rounds)",
        ],
    )
    for system in SYSTEMS:
        runs = results.get(system)
        if runs:
            table.rows.append(
                [
                    label(system),
                    min(r["accepted_pct"] for r in runs),
                    f"{sum(r['complete'] for r in runs)}/{len(runs)}",
                    med(runs, "p50_s"),
                    med(runs, "all_s"),
                    _refusals(runs),
                ]
            )
    ours = results.get("ours")
    if ours:
        worst = min(r["accepted_pct"] for r in ours)
        table.verdict = (
            "Target (issue 7) "
            + target(
                "avalanche of 1,000: 100 % accepted", worst >= 100.0, f"worst round {worst:.1f} %; {_refusals(ours)}"
            )
            + "."
        )
    return [table]
