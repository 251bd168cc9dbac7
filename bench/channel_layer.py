"""Channel-layer scenario: ours vs asgi_redis 1.4.3 on the same redis-server, alternating rounds.

Targets (issue 2): send+receive throughput >= 3x asgi_redis; a group send to 1,000 members >= 20x
faster (and every member reached: asgi_redis drops all past the reply list's capacity of 100).
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

from tests.support.processes import RedisServer

from .harness import Context, Table, median

HERE = Path(__file__).resolve().parent
STACKS = ("ours", "legacy")


def _measure(ctx: Context, stack: str, port: int, scenario: str, n: int) -> dict[str, float]:
    python = ctx.python if stack == "ours" else ctx.legacy_python
    return ctx.run_json(
        [
            python,
            str(HERE / "layer_workload.py"),
            "--stack",
            stack,
            "--port",
            str(port),  # type: ignore[no-any-return]
            "--scenario",
            scenario,
            "--n",
            str(n),
        ]
    )


def run(ctx: Context) -> list[Table]:
    sizes = {
        "throughput": 3000 if ctx.quick else 20000,
        "pairs": 500 if ctx.quick else 3000,
        "group": 5 if ctx.quick else 20,
    }
    results: dict[tuple[str, str], list[dict[str, float]]] = {(s, k): [] for s in STACKS for k in sizes}
    server = RedisServer()
    try:
        for round_number in range(ctx.rounds):
            order = STACKS if round_number % 2 == 0 else STACKS[::-1]
            for scenario, n in sizes.items():
                for stack in order:
                    result = _measure(ctx, stack, server.port, scenario, n)
                    results[stack, scenario].append(result)
                    print(f"  round {round_number + 1} {scenario} {stack}: {result}", file=sys.stderr, flush=True)
    finally:
        server.stop()

    def med(stack: str, scenario: str, key: str) -> float:
        return median([r[key] for r in results[stack, scenario]])

    ours_label = f"ours (redis-py {version('redis')}, hiredis)"
    legacy_label = "asgi_redis 1.4.3 (redis-py 2.10.6)"
    tables = []
    for scenario, title, method in (
        (
            "throughput",
            "Send + receive throughput (one sender process, one blocking receiver process)",
            f"One process sends {sizes['throughput']:,} `http.request`-sized messages with `send()`; another takes them "
            "with `receive(block=True)`; pairs/s = messages / time until the last is received (capacity raised so "
            "nothing is refused).",
        ),
        (
            "pairs",
            "Request/reply cycle latency-bound loop (one process)",
            f"`send` + `receive(block=True)` of a request, then `send` + `receive` of a reply to `daphne.response.X!Y` "
            f"(received by prefix), {sizes['pairs']:,} cycles; every call waits for the previous one, so this counts "
            "round trips.",
        ),
    ):
        ours, legacy = med("ours", scenario, "pairs_per_second"), med("legacy", scenario, "pairs_per_second")
        ratio = ours / legacy
        tables.append(
            Table(
                title=title,
                method=method + f" {ctx.rounds} rounds, stacks alternating; higher is better.",
                columns=["stack", "send+receive pairs/s (median)", "ratio vs asgi_redis"],
                rows=[[ours_label, ours, f"{ratio:.2f}x"], [legacy_label, legacy, "1.00x"]],
                verdict=f"Target >= 3x: **{'met' if ratio >= 3 else 'missed'}** ({ratio:.2f}x).",
            )
        )
    ours_group, legacy_group = med("ours", "group", "group_send_ms"), med("legacy", "group", "group_send_ms")
    speedup = legacy_group / ours_group
    tables.append(
        Table(
            title="Group send to 1,000 members on one interface server's reply list",
            method=(
                f"1,000 members `daphne.response.AbCdEfGhIj!mNNNN` in one group, default capacity (100); time of one "
                f"`send_group`, then the list is drained and counted; {sizes['group']} sends per round, {ctx.rounds} "
                "rounds. Lower time is better."
            ),
            columns=["stack", "send_group time, ms (median)", "speed-up", "members reached (worst round)"],
            rows=[
                [
                    ours_label,
                    ours_group,
                    f"{speedup:.1f}x",
                    f"{int(min(r['delivered'] for r in results['ours', 'group']))} / 1000",
                ],
                [
                    legacy_label,
                    legacy_group,
                    "1.0x",
                    f"{int(min(r['delivered'] for r in results['legacy', 'group']))} / 1000",
                ],
            ],
            verdict=f"Target >= 20x faster: **{'met' if speedup >= 20 else 'missed'}** ({speedup:.1f}x).",
        )
    )
    return tables
