"""Where the time goes: CPU milliseconds per HTTP request, per process, over the whole request path.

Starts one Redis, one interface server and two workers serving bench/fullstack/project's hello view,
drives them with ``wrk`` over 10 keep-alive connections, and divides each process's CPU time (user +
system, from /proc) by the requests served. CPU time is what a noisy shared machine distorts least, so
this is the figure to compare across runs and code versions. Systems: ``ours`` (this repository, or
the source tree given with ``--tree``, e.g. an older commit checked out with ``git worktree``) and
``legacy`` (Daphne 1.4.2 + Channels 1.1.8 + asgi_redis 1.4.3). ``--flame DIR`` also records py-spy
flame graphs (SVG) of the interface server and one worker.

``python -m bench.request_cost [--tree DIR] [--label NAME] [--system ours|legacy] [--seconds S] [--flame DIR]``
prints one JSON document; ``run(ctx)`` is the ``make bench`` section (ours vs legacy, alternating rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.processes import ManagedProcess, redis_servers, start_server

from .harness import ROOT, Context, Table, median

PROJECT = ROOT / "bench" / "fullstack" / "project"
WORKERS = 2


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(port: int, seconds: float) -> int:
    out = subprocess.run(
        ["wrk", "-t1", "-c10", f"-d{int(seconds)}s", f"http://127.0.0.1:{port}/hello/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(next(line for line in out.splitlines() if "requests in" in line).split()[0])


def measure(
    system: str, tree: Path, seconds: float, flame: Path | None, label: str, legacy_venv: Path | None
) -> dict[str, Any]:
    """One round: start the system, warm it up, then count CPU per request of every process."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is missing: apt-get install wrk")
    with redis_servers(1) as servers:
        redis = servers[0]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHONPATH"))}
        env.update(
            {
                "BENCH_STACK": system,
                "BENCH_REDIS_PORT": str(redis.port),
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SETTINGS_MODULE": "benchsite.settings",
                "PYTHONPATH": f"{PROJECT}:{tree}" if system == "ours" else str(PROJECT),
            }
        )
        if system == "ours":
            python, daphne = sys.executable, [sys.executable, "-c", "from interfaceserver.cli import main; main()"]
        else:
            assert legacy_venv is not None
            python, daphne = str(legacy_venv / "bin" / "python"), [str(legacy_venv / "bin" / "daphne")]
        started: list[ManagedProcess] = []
        try:
            server = start_server(
                f"{label}-daphne",
                lambda port: [*daphne, "-b", "127.0.0.1", "-p", str(port), "-v", "0", "benchsite.asgi:channel_layer"],
                env=env,
                cwd=str(PROJECT),
                timeout=60,
            )
            port = server.port or 0
            started.append(server)
            workers = [
                ManagedProcess(f"{label}-worker{i}", [python, "manage.py", "runworker"], env=env, cwd=str(PROJECT))
                for i in range(WORKERS)
            ]
            started.extend(workers)
            time.sleep(2.0)
            _wrk(port, 2)  # warm-up: imports, connections, URL resolver caches
            assert redis.process is not None
            pids = {"interface server": [server.pid], "workers": [w.pid for w in workers], "redis": [redis.process.pid]}
            before = {role: sum(_cpu(p) for p in group) for role, group in pids.items()}
            spies = []
            if flame is not None:
                flame.mkdir(parents=True, exist_ok=True)
                for role, pid in (("server", server.pid), ("worker", workers[0].pid)):
                    spies.append(
                        subprocess.Popen(
                            [
                                str(Path(sys.executable).parent / "py-spy"),
                                "record",
                                "-r",
                                "250",
                                "-d",
                                str(int(seconds)),
                                "-p",
                                str(pid),
                                "-o",
                                str(flame / f"{label}-{role}.svg"),
                                "--nonblocking",
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    )
            requests = _wrk(port, seconds)
            for spy in spies:
                spy.wait(30)
            after = {role: sum(_cpu(p) for p in group) for role, group in pids.items()}
        finally:
            for process in reversed(started):
                process.stop()
    per_request = {role: (after[role] - before[role]) * 1000 / requests for role in pids}
    return {"label": label, "requests": requests, "req_s": requests / seconds, "ms_per_request": per_request}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_cost", description=__doc__)
    parser.add_argument("--system", choices=["ours", "legacy"], default="ours")
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree of ours (default: this checkout)")
    parser.add_argument("--label", default=None)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--flame", type=Path, default=None, help="write py-spy SVG flame graphs here")
    args = parser.parse_args(argv)
    legacy = None
    if args.system == "legacy":
        from tests.legacy import legacy_venv

        legacy = legacy_venv()
    result = measure(args.system, args.tree.resolve(), args.seconds, args.flame, args.label or args.system, legacy)
    print(json.dumps(result))
    return 0


def run(ctx: Context) -> list[Table]:
    """The make-bench section: CPU per request of every process, ours vs legacy, alternating rounds."""
    seconds = 4 if ctx.quick else 8
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "legacy": []}
    for round_number in range(ctx.rounds):
        for system in ("ours", "legacy") if round_number % 2 == 0 else ("legacy", "ours"):
            results[system].append(measure(system, ROOT, seconds, None, system, ctx.legacy_venv))
    table = Table(
        "Where the time goes: CPU per HTTP hello request, by process",
        f"wrk -t1 -c10 for {seconds} s against the hello view, 2 workers, after a 2 s warm-up; CPU time (user + "
        "system, /proc) of each process divided by the requests served; medians of "
        f"{ctx.rounds} alternating rounds. Workers: both together (each serves about half).",
        ["system", "interface server (ms)", "workers (ms)", "Redis (ms)", "total (ms)", "req/s"],
    )
    for system in ("ours", "legacy"):
        rows = results[system]
        cost = {role: median([r["ms_per_request"][role] for r in rows]) for role in rows[0]["ms_per_request"]}
        table.rows.append(
            [
                system,
                cost["interface server"],
                cost["workers"],
                cost["redis"],
                sum(cost.values()),
                median([r["req_s"] for r in rows]),
            ]
        )
    ours, legacy = table.rows
    table.verdict = (
        f"Interface-server CPU per request: ours {ours[1]:.3f} ms vs legacy {legacy[1]:.3f} ms "
        f"({legacy[1] / ours[1]:.2f}x less); the issue's target for ours is 0.15 ms "
        f"({'met' if ours[1] <= 0.15 else 'missed'}); Redis {ours[3]:.3f} ms (target 0.1 ms: "
        f"{'met' if ours[3] <= 0.1 else 'missed'})."
    )
    return [table]


if __name__ == "__main__":
    sys.exit(main())
