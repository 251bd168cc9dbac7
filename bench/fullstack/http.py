"""Full stack, HTTP: the hello view at 1 and 2 worker processes and 10 / 100 keep-alive connections,
a 100 KB response and a 1 MB POST, for every system (bench/fullstack/systems.py), measured with wrk.

For each worker count, every system is started (ours and legacy with a Redis each) and warmed up
with 1 s of wrk; then each round runs every case on every system in turn, for a fixed time (one wrk
thread), the order of the systems rotating and alternating from case to case, so that noise on the
shared machine lands on all of them within seconds. Figures are medians over the rounds; errors are
summed (socket errors + non-2xx responses).
"""

from __future__ import annotations

import resource
from typing import Any

from tests.support.processes import RedisServer

from ..harness import Context, Table
from . import charts, wrk
from .common import cpu_seconds, label, log, med, order, raise_fd_limit, ratio, target
from .systems import Launcher

__all__ = ["run"]

SYSTEMS = ("ours", "legacy", "gunicorn", "daphne4", "uvicorn", "ours-sqlite")
#: (case, path, connections, POST bytes, worker counts it runs at)
CASES = [
    ("hello", "/hello/", 10, 0, (1, 2)),
    ("hello", "/hello/", 100, 0, (1, 2)),
    ("100 KB response", "/big/", 10, 0, (2,)),
    ("1 MB POST", "/upload/", 10, 1024 * 1024, (2,)),
]
#: The case whose CPU is split by process (the issue's "where the time goes").
CPU_CASE = ("hello", 2, 10)
#: The SQLite layer row covers the hello cases only.
SQLITE_CASES = {"hello"}


def _cases(system: str, workers: int) -> list[tuple[str, str, int, int]]:
    return [
        (name, path, conns, post)
        for name, path, conns, post, counts in CASES
        if workers in counts and (system != "ours-sqlite" or name in SQLITE_CASES)
    ]


def run(ctx: Context) -> list[Table]:
    raise_fd_limit()
    wrk.ensure_wrk()
    rounds = min(ctx.rounds, 3)
    seconds = 2.0 if ctx.quick else 3.0
    scripts = {post: wrk.script(ctx.scratch, post) for post in {c[3] for c in CASES}}
    results: dict[tuple[str, int, str, int], list[dict[str, Any]]] = {}
    redis = RedisServer()
    launcher = Launcher(ctx, redis, redis_per_system=True)
    try:
        for workers in (1, 2):
            # Every system runs at once (idle but for the one under load), so the rounds interleave case
            # by case: machine noise lands on all systems within seconds of each other.
            running = {}
            try:
                for system in SYSTEMS:
                    running[system] = launcher.start(system, workers)
                for system in SYSTEMS:  # warm-up, every worker touched
                    wrk.run(running[system].url + "/hello/", 10, 1.0, scripts[0])
                step = 0
                for round_number in range(rounds):
                    for name, path, conns, post in _cases("ours", workers):
                        step += 1
                        for system in _rotated(SYSTEMS, step):
                            if (name, path, conns, post) not in _cases(system, workers):
                                continue
                            result = _measure(
                                running[system],
                                launcher,
                                path,
                                conns,
                                seconds,
                                scripts[post],
                                (name, workers, conns) == CPU_CASE,
                            )
                            results.setdefault((system, workers, name, conns), []).append(result)
                            log(
                                f"http r{round_number} {system} w{workers} {name} c{conns}: {result['rps']:.0f} req/s "
                                f"p50 {result['p50_ms']:.2f} p99 {result['p99_ms']:.2f} ms, {result['errors']} errors"
                            )
            finally:
                for started in running.values():
                    started.stop()
    finally:
        launcher.close()
        redis.stop()
    return [_table(results, rounds, seconds), _cpu_table(results)]


def _rotated(systems: tuple[str, ...], step: int) -> list[str]:
    """Every system once, starting at a different one each step, and backwards on odd steps."""
    turn = list(systems[step % len(systems) :] + systems[: step % len(systems)])
    return order(turn, step)


def _measure(
    running: Any, launcher: Launcher, path: str, conns: int, seconds: float, lua: Any, measure_cpu: bool
) -> dict[str, Any]:
    redis = launcher.redis_for(running.system)
    before = _cpu_snapshot(running, redis) if measure_cpu else {}
    result = wrk.run(running.url + path, conns, seconds, lua)
    if measure_cpu:
        after = _cpu_snapshot(running, redis)
        result["cpu_ms"] = {role: (after[role] - before[role]) * 1000 / max(result["requests"], 1) for role in after}
    return result


def _cpu_snapshot(running: Any, redis: RedisServer) -> dict[str, float]:
    """CPU seconds so far by role: the system's processes, Redis (layer systems), and wrk (finished children)."""
    snapshot = {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in running.roles().items()}
    if running.system in ("ours", "legacy") and redis.process is not None:
        snapshot["redis"] = cpu_seconds(redis.process.pid)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    snapshot["wrk"] = usage.ru_utime + usage.ru_stime
    return snapshot


def _cpu_table(results: dict[tuple[str, int, str, int], list[dict[str, Any]]]) -> Table:
    name, workers, conns = CPU_CASE
    roles = ["interface server", "workers", "redis", "server processes", "wrk"]
    table = Table(
        title=f"Where the CPU goes: {name}, {workers} workers, {conns} connections",
        method=(
            "CPU time (utime + stime from /proc, 10 ms ticks) each role spent during the measured wrk run, "
            'divided by the requests served; medians over the rounds. "server processes" are all the '
            "processes of a system without a layer (with their children); wrk's is its own rusage."
        ),
        columns=["system", *[f"{role} ms/req" for role in roles], "total ms/req"],
    )
    for system in SYSTEMS:
        runs = [r["cpu_ms"] for r in results.get((system, workers, name, conns), []) if "cpu_ms" in r]
        if not runs:
            continue
        cells = [med(runs, role) if any(role in r for r in runs) else "–" for role in roles]
        total = sum(c for c in cells if isinstance(c, float))
        table.rows.append([label(system), *cells, total])
    return table


def summarize(
    results: dict[tuple[str, int, str, int], list[dict[str, Any]]],
) -> dict[tuple[str, int, str, int], dict[str, Any]]:
    return {
        key: {
            "rps": med(runs, "rps"),
            "p50": med(runs, "p50_ms"),
            "p99": med(runs, "p99_ms"),
            "errors": sum(r["errors"] for r in runs),
            "error_kinds": {
                kind: sum(r["raw"][kind] for r in runs) for kind in ("status", "connect", "read", "write", "timeout")
            },
        }
        for key, runs in results.items()
    }


def _errors(fig: dict[str, Any]) -> str:
    """The error count, with its kinds when there are any (status = non-2xx/3xx responses)."""
    kinds = ", ".join(f"{kind} {count}" for kind, count in fig["error_kinds"].items() if count)
    return f"{int(fig['errors'])} ({kinds})" if kinds else str(int(fig["errors"]))


def _table(results: dict[tuple[str, int, str, int], list[dict[str, Any]]], rounds: int, seconds: float) -> Table:
    figures = summarize(results)
    table = Table(
        title="HTTP through the whole stack: hello, 100 KB response, 1 MB POST (wrk)",
        method=(
            f"Every system serves the same Django project (bench/fullstack/project, no middleware) on this "
            f"machine, started by the harness. wrk, one thread, keep-alive connections, {seconds:g} s per case "
            f"after a 1 s warm-up; all systems of one worker count run at once (idle but for the one under load) "
            f"and {rounds} rounds interleave them case by case, order alternating; medians over the rounds, "
            "errors summed. Ours and legacy have a Redis each. Workers = processes running Django "
            "(ours and legacy add one interface server and Redis; Daphne 4 runs N processes on one "
            "inherited socket; uvicorn `--workers N`; gunicorn sync workers close the connection after "
            "every response, as they do). The load generator shares the 2 cores. Errors: wrk's socket errors "
            "(connect/read/write/timeout) plus non-2xx/3xx responses (status)."
        ),
        columns=[
            "case",
            "workers",
            "conns",
            "system",
            "req/s",
            "× legacy",
            "× gunicorn",
            "p50 ms",
            "p99 ms",
            "p99 × legacy",
            "p99 × gunicorn",
            "errors",
        ],
    )
    for name, _path, conns, _post, counts in CASES:
        for workers in counts:
            legacy = figures.get(("legacy", workers, name, conns), {})
            gunicorn = figures.get(("gunicorn", workers, name, conns), {})
            for system in SYSTEMS:
                fig = figures.get((system, workers, name, conns))
                if fig is None:
                    continue
                table.rows.append(
                    [
                        name,
                        workers,
                        conns,
                        label(system),
                        fig["rps"],
                        ratio(fig["rps"], legacy.get("rps", 0)),
                        ratio(fig["rps"], gunicorn.get("rps", 0)),
                        fig["p50"],
                        fig["p99"],
                        ratio(fig["p99"], legacy.get("p99", 0)),
                        ratio(fig["p99"], gunicorn.get("p99", 0)),
                        _errors(fig),
                    ]
                )
    table.verdict = verdict(figures) + "\n\n" + charts.http_chart(figures, SYSTEMS)
    return table


def verdict(figures: dict[tuple[str, int, str, int], dict[str, float]]) -> str:
    key = ("hello", 10)
    get = {s: figures.get((s, 2, *key)) for s in ("ours", "legacy", "gunicorn", "daphne4", "uvicorn")}
    ours, legacy, gunicorn = get["ours"], get["legacy"], get["gunicorn"]
    if not (ours and legacy and gunicorn):
        return "Targets not evaluated: a system is missing from this run."
    lines = ["Targets (issue 7), hello, 2 workers, 10 connections:"]
    lines.append(
        "- "
        + target(
            "HTTP hello 2w/10c ≥ 3× legacy req/s",
            ours["rps"] >= 3 * legacy["rps"],
            f"{ours['rps']:,.0f} vs {legacy['rps']:,.0f} req/s = {ours['rps'] / legacy['rps']:.2f}×",
        )
    )
    lines.append(
        "- "
        + target(
            "HTTP hello 2w/10c ≥ 0.5× gunicorn req/s",
            ours["rps"] >= 0.5 * gunicorn["rps"],
            f"{ours['rps']:,.0f} vs {gunicorn['rps']:,.0f} req/s = {ours['rps'] / gunicorn['rps']:.2f}×",
        )
    )
    lines.append(
        "- "
        + target(
            "HTTP hello 2w/10c p99 ≤ ⅓ of legacy's",
            ours["p99"] <= legacy["p99"] / 3,
            f"{ours['p99']:.2f} ms vs {legacy['p99']:.2f} ms",
        )
    )
    for peer in ("daphne4", "uvicorn"):
        fig = get.get(peer)
        if fig:
            lines.append(
                "- "
                + target(
                    f"HTTP hello 2w/10c ahead of {label(peer)}",
                    ours["rps"] > fig["rps"],
                    f"{ours['rps']:,.0f} vs {fig['rps']:,.0f} req/s",
                )
            )
    errors = sum(int(f["errors"]) for (s, *_), f in figures.items() if s == "ours")
    lines.append(f"- errors in every case of ours: {errors}")
    return "\n".join(lines)
