"""SQLite layer scenario (issue 13): HTTP hello beside Redis, wake-up latency, a soak of a whole stack, idle CPU.

The full-stack sections carry the SQLite layer's rows among every system; this one checks the
issue's HTTP target (>= 0.5x Redis, >= legacy) and measures what only the embedded layer has to
prove: that a receiver blocked in another
process wakes within a few milliseconds, that the file and its WAL come back to their size after
load, and that an idle deployment (1 interface server + 4 workers + rundelay) costs no CPU.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from channellayer.sqlite import SQLiteChannelLayer
from tests.integration.test_sqlite_stack import SQLiteStack
from tests.support.processes import RedisServer

from .fullstack import wrk
from .fullstack.common import log, order
from .fullstack.systems import Launcher
from .harness import Context, Table

SPAWN = multiprocessing.get_context("spawn")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sizes(path: str) -> tuple[int, int]:
    wal = path + "-wal"
    return os.path.getsize(path), os.path.getsize(wal) if os.path.exists(wal) else 0


# -- wake-up latency -----------------------------------------------------------------------------------


def _wake_receiver(path: str, count: int, use_async: bool) -> None:
    """Take ``count`` messages on ``wake!`` (blocked between them); report each one's latency on ``report``."""
    layer = SQLiteChannelLayer(path=path, blocking_timeout=10)
    latencies: list[float] = []

    async def receive() -> Any:
        return await layer.receive_async(["wake!"])

    while len(latencies) < count + 1:
        _, message = asyncio.run(receive()) if use_async else layer.receive(["wake!"], block=True)
        if message is not None:
            latencies.append(time.time() - message["sent_at"])
    layer.send("report", {"latencies": latencies[1:]})  # the first waited out the child's start-up
    layer.close()


def _wakeups(ctx: Context) -> Table:
    count = 60 if ctx.quick else 300
    rows = []
    for use_async in (False, True):
        path = str(ctx.scratch / f"wake-{use_async}.sqlite3")
        layer = SQLiteChannelLayer(path=path, blocking_timeout=30)
        child = SPAWN.Process(target=_wake_receiver, args=(path, count, use_async), daemon=True)
        child.start()
        layer.send("wake!x", {"sent_at": time.time()})
        time.sleep(3)
        for _ in range(count):
            time.sleep(0.02)  # the receiver is back asleep on its socket
            layer.send("wake!x", {"sent_at": time.time()})
        _, report = layer.receive(["report"], block=True)
        child.join(30)
        layer.close()
        values = sorted(value * 1000 for value in report["latencies"])
        rows.append(
            [
                "receive_async (asyncio)" if use_async else "receive(block=True)",
                count,
                statistics.median(values),
                values[int(len(values) * 0.9)],
                values[int(len(values) * 0.99)],
                values[-1],
            ]
        )
    worst = max(row[2] for row in rows)
    return Table(
        title="Wake-up latency: a receiver blocked in another process",
        method=(
            f"One process sends {count} messages 20 ms apart to `wake!x`; another, blocked on `wake!`, takes each "
            "and notes how long after the send it got it (send, commit, datagram, wake, pop)."
        ),
        columns=["receive", "messages", "median, ms", "p90, ms", "p99, ms", "max, ms"],
        rows=rows,
        verdict=f"Target a few ms: **{'met' if worst < 5 else 'missed'}** (median {worst:.2f} ms at worst).",
    )


# -- soak and idle CPU of a whole stack ----------------------------------------------------------------


def _wrk(url: str, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", url], capture_output=True, text=True, timeout=seconds + 60
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rate": float(rate.group(1)) if rate else 0.0,
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def _stack(ctx: Context) -> list[Table]:
    soak, idle, cpu_window = (20, 45, 10) if ctx.quick else (600, 60, 20)
    stack = SQLiteStack(Path(tempfile.mkdtemp(prefix="sqlite-soak-", dir=ctx.scratch)))
    try:
        stack.manage("migrate", "-v", "0")
        stack.server()
        workers = [stack.worker(number) for number in range(4)]
        stack.rundelay()
        stack.wait_ready()
        time.sleep(2)
        baseline = _sizes(stack.layer_path)
        peak = list(baseline)
        sampling = True

        def sample() -> None:
            while sampling:
                size = _sizes(stack.layer_path)
                peak[0], peak[1] = max(peak[0], size[0]), max(peak[1], size[1])
                time.sleep(0.5)

        sampler = threading.Thread(target=sample)
        sampler.start()
        load = _wrk(stack.url + "/hello/", soak)
        sampling = False
        sampler.join()
        session = requests.Session()
        shares = Counter(session.get(stack.url + "/hello/", timeout=10).json()["pid"] for _ in range(200))
        after_load = _sizes(stack.layer_path)
        time.sleep(idle - cpu_window)
        before = {p.name: _cpu_seconds(p.pid) for p in stack.processes}
        time.sleep(cpu_window)
        cpu = {p.name: _cpu_seconds(p.pid) - before[p.name] for p in stack.processes}
        final = _sizes(stack.layer_path)
        locked = sum(p.log().count("database is locked") for p in stack.processes)
    finally:
        stack.stop()
    served = [shares.get(worker.pid, 0) for worker in workers]
    near = final[0] <= baseline[0] + 64 * 1024 and final[1] <= baseline[1] + 64 * 1024
    soak_table = Table(
        title="Soak: 1 interface server + 4 workers + rundelay on one SQLite file",
        method=(
            f"wrk (2 threads, 32 connections) on `/hello/` for {soak} s: {load['rate']:,.0f} requests/s, "
            f"{load['non2xx']} non-2xx, {load['socket_errors']} socket errors, {locked} `database is locked` in "
            f"any log; then {idle} s idle (upkeep every 30 s per process). Of 200 requests after the load the "
            f"four workers served {', '.join(map(str, served))}. Sizes in bytes."
        ),
        columns=["moment", "database file", "WAL"],
        rows=[
            ["baseline (started, before load)", *baseline],
            ["peak under load", *peak],
            ["right after the load", *after_load],
            [f"after {idle} s idle", *final],
        ],
        verdict=f"Back near baseline after idle (each within 64 KiB of it): **{'met' if near else 'missed'}**.",
    )
    cpu_table = Table(
        title="Idle CPU of every process of that deployment",
        method=(
            f"CPU time (utime + stime from /proc/PID/stat) over {cpu_window} s of idleness after the soak; "
            "every receiver is blocked on its wake-up socket and times out once a second "
            "(`blocking_timeout` 1)."
        ),
        columns=["process", f"CPU ms over {cpu_window} s", "% of one core"],
        rows=[[name, used * 1000, f"{used / cpu_window * 100:.2f} %"] for name, used in cpu.items()],
        verdict=f"Idle CPU ≈ 0: **{'met' if max(cpu.values()) / cpu_window < 0.005 else 'missed'}** "
        f"(worst {max(cpu.values()) / cpu_window * 100:.2f} % of a core).",
    )
    return [soak_table, cpu_table]


# -- HTTP hello: SQLite vs Redis vs legacy -------------------------------------------------------------


def _http(ctx: Context) -> Table:
    """The issue's target on the full-stack project: hello on SQLite >= 0.5x ours on Redis and >= legacy."""
    systems = ("ours", "ours-sqlite", "legacy")
    rounds, seconds = (2, 2.0) if ctx.quick else (min(ctx.rounds, 3), 5.0)
    script = wrk.script(ctx.scratch, 0)
    results: dict[tuple[str, int], list[float]] = {}
    redis = RedisServer()
    try:
        launcher = Launcher(ctx, redis)
        for round_number in range(rounds):
            for system in order(systems, round_number):
                running = launcher.start(system, 2)
                try:
                    wrk.run(running.url + "/hello/", 10, 1.0, script)  # warm-up, every worker touched
                    for connections in (10, 100):
                        result = wrk.run(running.url + "/hello/", connections, seconds, script)
                        results.setdefault((system, connections), []).append(result["rps"])
                        log(
                            f"sqlite http r{round_number} {system} c{connections}: {result['rps']:.0f} req/s, "
                            f"{result['errors']} errors"
                        )
                finally:
                    running.stop()
    finally:
        redis.stop()
    rows, met = [], True
    for connections in (10, 100):
        rate = {system: statistics.median(results[system, connections]) for system in systems}
        versus_redis, versus_legacy = rate["ours-sqlite"] / rate["ours"], rate["ours-sqlite"] / rate["legacy"]
        met = met and versus_redis >= 0.5 and versus_legacy >= 1
        rows.append(
            [
                connections,
                rate["ours-sqlite"],
                rate["ours"],
                rate["legacy"],
                f"{versus_redis:.2f}x",
                f"{versus_legacy:.2f}x",
            ]
        )
    return Table(
        title="HTTP hello on the SQLite layer beside Redis (2 workers)",
        method=(
            f"The full-stack project's `/hello/` through daphne + 2 `runworker` (bench/fullstack/systems.py), "
            f"wrk with one thread, {seconds:g} s per case, {rounds} rounds, systems alternating; medians."
        ),
        columns=[
            "connections",
            "ours on SQLite, req/s",
            "ours on Redis, req/s",
            "legacy on Redis, req/s",
            "SQLite / Redis",
            "SQLite / legacy",
        ],
        rows=rows,
        verdict=f"Target SQLite >= 0.5x Redis and >= legacy: **{'met' if met else 'missed'}**.",
    )


def run(ctx: Context) -> list[Table]:
    if not os.path.exists("/usr/bin/wrk") and subprocess.run(["which", "wrk"], capture_output=True).returncode:
        sys.exit("wrk is missing: install the 'wrk' package")
    return [_http(ctx), _wakeups(ctx), *_stack(ctx)]
