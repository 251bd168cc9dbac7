"""Interface server: ours vs Daphne 1.4.2: idle WebSockets held by one process, and echo round trips.

Each measurement starts a fresh server process (ours: ``daphne`` from this repo; legacy: Daphne
1.4.2 from the legacy virtualenv, which has no txredisapi and so reads replies in its 50 ms poll
mode), a responder worker of the same stack (bench/is_responder.py) and a separate client process
(bench/is_ws_client.py). Both servers run with the same options and their defaults otherwise.

Idle sockets: RSS from /proc/<pid>/status after a 20-socket warm-up, then after N accepted sockets;
the difference over N is the memory per socket. Idle CPU is (utime+stime) from /proc/<pid>/stat,
measured twice on fresh servers: with ``--ping-interval 3600`` over 20 s (what the server itself
spends with nothing to do), and with the default ``--ping-interval 20`` over a 60 s window: three
ping intervals, so that every socket's keep-alive ping and pong fall inside it about three times
and the figure is the steady rate, as in the long run, rather than one burst.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.processes import ManagedProcess, RedisServer, start_server

from .harness import ROOT, Context, Table, median

__all__ = ["run"]

STACKS = ("ours", "legacy")
#: The idle measurement adds a bare Autobahn server (bench/autobahn_server.py): no layer, no HTTP, so a
#: floor for any server built on Autobahn's protocol class — the reason ours has its own RFC 6455 codec.
IDLE_STACKS = ("ours", "legacy", "autobahn")
PING_INTERVAL = 20
#: A ping interval longer than any window, to measure a server with nothing at all to do.
QUIET_PING_INTERVAL = 3600
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") / 1024

_LAYER_MODULES = {
    "ours": (
        "import os\nfrom channellayer import get_channel_layer\n"
        "channel_layer = get_channel_layer('redis', {'hosts': [os.environ['IS_BENCH_REDIS']]})\n"
    ),
    "legacy": (
        "import os\nfrom asgi_redis import RedisChannelLayer\n"
        "channel_layer = RedisChannelLayer(hosts=[os.environ['IS_BENCH_REDIS']])\n"
    ),
}


def _rss_kb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


class _Stack:
    """One server + responder of one stack, on the shared Redis; stopped by pid."""

    def __init__(self, ctx: Context, stack: str, redis: RedisServer, ping_interval: int = PING_INTERVAL) -> None:
        scratch = ctx.scratch / f"is_{stack}"
        scratch.mkdir(exist_ok=True)
        self.responder: ManagedProcess | None = None
        if stack == "autobahn":
            self.server = start_server(
                "is-autobahn",
                lambda port: [ctx.python, str(ROOT / "bench" / "autobahn_server.py"), str(port), str(ping_interval)],
                cwd=str(scratch),
                timeout=30,
            )
            self.port = self.server.port or 0
            return
        (scratch / f"is_layer_{stack}.py").write_text(_LAYER_MODULES[stack])
        python = ctx.python if stack == "ours" else ctx.legacy_python
        daphne = str(Path(python).parent / "daphne")
        # The legacy processes must not see this repo (its channels/ would shadow Channels 1.1.8).
        env = {
            **os.environ,
            "IS_BENCH_REDIS": redis.url,
            "PYTHONPATH": f"{scratch}:{ROOT}" if stack == "ours" else str(scratch),
        }
        self.responder = ManagedProcess(
            f"is-responder-{stack}",
            [python, str(ROOT / "bench" / "is_responder.py"), stack, redis.url],
            env=env,
            cwd=str(scratch),
        )
        self.server = start_server(
            f"is-daphne-{stack}",
            lambda port: [
                daphne,
                "-p",
                str(port),
                "--ping-interval",
                str(ping_interval),
                f"is_layer_{stack}:channel_layer",
            ],
            env=env,
            cwd=str(scratch),
            timeout=30,
        )
        self.port = self.server.port or 0

    def stop(self) -> None:
        self.server.stop(timeout=15)
        if self.responder is not None:
            self.responder.stop()


def _client(ctx: Context, mode: str, port: int, count: int, extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    argv = [
        ctx.python,
        str(ROOT / "bench" / "is_ws_client.py"),
        mode,
        "--port",
        str(port),
        "--count",
        str(count),
        "--concurrency",
        "64",
        *extra,
    ]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _json_line(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"benchmark client exited ({process.wait(5)}) before reporting")
    if time.monotonic() > deadline:
        raise RuntimeError("benchmark client took too long")
    return json.loads(line)


def _idle_round(
    ctx: Context, stack: str, redis: RedisServer, count: int, window: float, ping_interval: int
) -> dict[str, float]:
    redis.client().flushall()
    running = _Stack(ctx, stack, redis, ping_interval)
    holder = None
    try:
        warm = _client(ctx, "hold", running.port, 20)
        if _json_line(warm, 60)["opened"] != 20:
            raise RuntimeError(f"{stack}: warm-up sockets were not accepted")
        warm.communicate("close\n", timeout=30)
        time.sleep(1.0)
        pid = running.server.pid
        before = _rss_kb(pid)
        holder = _client(ctx, "hold", running.port, count)
        opened = _json_line(holder, 600)
        time.sleep(2.0)
        after = _rss_kb(pid)
        cpu_start, wall_start = _cpu_seconds(pid), time.monotonic()
        time.sleep(window)
        cpu = (_cpu_seconds(pid) - cpu_start) / (time.monotonic() - wall_start) * 100
        end = _rss_kb(pid)
        out, _ = holder.communicate("close\n", timeout=120)
        closed = json.loads(out.strip().splitlines()[-1])
        return {
            "opened": opened["opened"],
            "failed": opened["failed"],
            "open_seconds": opened["seconds"],
            "alive": closed["alive_before_close"],
            "rss_before_mb": before / 1024,
            "rss_after_mb": end / 1024,
            "kb_per_socket": (after - before) / max(opened["opened"], 1),
            "idle_cpu": cpu,
        }
    finally:
        if holder is not None and holder.poll() is None:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        running.stop()


def _echo_round(ctx: Context, stack: str, redis: RedisServer, count: int) -> dict[str, float]:
    redis.client().flushall()
    running = _Stack(ctx, stack, redis)
    try:
        client = _client(ctx, "echo", running.port, count, ("--warmup", "50"))
        out, _ = client.communicate(timeout=300)
        if client.returncode != 0:
            raise RuntimeError(f"{stack} echo client failed: {out[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])
    finally:
        running.stop()


def run(ctx: Context) -> list[Table]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it
    sockets = 1000 if ctx.quick else 10000
    # Three whole intervals: every socket's ping and pong fall inside the window about three times, so
    # the figure is the steady rate, not how one burst of pings happens to line up with the window.
    window = 3.0 * PING_INTERVAL
    quiet_window = 20.0  # /proc CPU times tick every 10 ms: 20 s resolves 0.05 %
    # Rounds are capped so the whole scenario stays under ~10 minutes: a legacy round trip costs its 50 ms poll.
    idle_rounds = min(ctx.rounds, 2)
    echo_rounds = min(ctx.rounds, 3)
    echo_count = 200 if ctx.quick else 500
    redis = RedisServer()
    idle: dict[str, list[dict[str, float]]] = {stack: [] for stack in IDLE_STACKS}
    quiet: dict[str, list[dict[str, float]]] = {stack: [] for stack in IDLE_STACKS}
    echo: dict[str, list[dict[str, float]]] = {stack: [] for stack in STACKS}
    try:
        for round_number in range(idle_rounds):
            order = IDLE_STACKS if round_number % 2 == 0 else IDLE_STACKS[::-1]
            for stack in order:
                result = _idle_round(ctx, stack, redis, sockets, quiet_window, QUIET_PING_INTERVAL)
                print(f"   idle, no pings due, {stack}: {result}", file=sys.stderr, flush=True)
                quiet[stack].append(result)
                result = _idle_round(ctx, stack, redis, sockets, window, PING_INTERVAL)
                print(f"   idle with pings {stack}: {result}", file=sys.stderr, flush=True)
                idle[stack].append(result)
        for round_number in range(echo_rounds):
            order = STACKS if round_number % 2 == 0 else STACKS[::-1]
            for stack in order:
                result = _echo_round(ctx, stack, redis, echo_count)
                print(f"   echo {stack}: {result}", file=sys.stderr, flush=True)
                echo[stack].append(result)
    finally:
        redis.stop()
    return [_idle_table(idle, quiet, sockets, window, idle_rounds), _echo_table(echo, echo_count, echo_rounds)]


def _med(results: list[dict[str, float]], key: str) -> float:
    return median([r[key] for r in results])


def _idle_table(
    idle: dict[str, list[dict[str, float]]],
    quiet: dict[str, list[dict[str, float]]],
    sockets: int,
    window: float,
    rounds: int,
) -> Table:
    table = Table(
        title=f"{sockets:,} idle WebSockets held by one interface-server process",
        method=(
            f"A separate asyncio client opens {sockets:,} WebSockets (64 handshakes in flight), each accepted by "
            f"a responder worker over Redis, then holds them open, answering pings. KB/socket = (RSS after − RSS "
            f"after a 20-socket warm-up) / sockets, from /proc/<pid>/status (both runs pooled); idle CPU = "
            f"utime+stime of the server with every socket open, over 20 s with `--ping-interval "
            f"{QUIET_PING_INTERVAL}` (no pings due) and over {window:.0f} s with the default `--ping-interval "
            f"{PING_INTERVAL}` (each socket pinged about every {PING_INTERVAL} s, so about "
            f"{window / PING_INTERVAL:.0f} times in the window). Median of {rounds} rounds, a fresh "
            f"server each run. Daphne 1.4.2 reads replies in its 50 ms poll mode (no txredisapi). The third "
            f"row is a bare Autobahn {_autobahn_version()} echo server on the same Twisted reactor "
            f"(bench/autobahn_server.py: no layer, no HTTP handling, same ping settings), the floor for a server "
            f"built on Autobahn's protocol class. Target (issue 3): ≤ 12 KB/socket and ≤ 1 % idle CPU at "
            f"10,000 sockets."
        ),
        columns=[
            "server",
            "sockets accepted",
            "open time (s)",
            "RSS before (MB)",
            "RSS after (MB)",
            "KB / socket",
            "idle CPU, no pings due (%)",
            "idle CPU with pings (%)",
            "still open at end",
        ],
    )
    names = {
        "ours": "ours (daphne, this repo)",
        "legacy": "Daphne 1.4.2",
        "autobahn": f"bare Autobahn {_autobahn_version()} (no layer)",
    }
    for stack in IDLE_STACKS:
        rows = idle[stack] + quiet[stack]
        table.rows.append(
            [
                names[stack],
                int(_med(rows, "opened")),
                _med(rows, "open_seconds"),
                _med(rows, "rss_before_mb"),
                _med(rows, "rss_after_mb"),
                _med(rows, "kb_per_socket"),
                _med(quiet[stack], "idle_cpu"),
                _med(idle[stack], "idle_cpu"),
                int(_med(rows, "alive")),
            ]
        )
    ours_kb = _med(idle["ours"] + quiet["ours"], "kb_per_socket")
    ours_quiet, ours_pings = _med(quiet["ours"], "idle_cpu"), _med(idle["ours"], "idle_cpu")
    legacy_kb = _med(idle["legacy"] + quiet["legacy"], "kb_per_socket")
    table.verdict = (
        f"Ours: {ours_kb:.1f} KB/socket (" + ("meets" if ours_kb <= 12 else "**misses**") + " the 12 KB target; "
        f"Daphne 1.4.2: {legacy_kb:.1f} KB); idle CPU {ours_quiet:.2f} % with no pings due ("
        + ("meets" if ours_quiet <= 1 else "**misses**")
        + " the 1 % target) and "
        f"{ours_pings:.2f} % including keep-alive pings ("
        + ("meets" if ours_pings <= 1 else "**misses**")
        + " the 1 % target), against Daphne 1.4.2's "
        f"{_med(quiet['legacy'], 'idle_cpu'):.2f} % and {_med(idle['legacy'], 'idle_cpu'):.2f} %. "
        f"Autobahn's protocol alone costs {_med(idle['autobahn'] + quiet['autobahn'], 'kb_per_socket'):.1f} KB/socket "
        f"and {_med(idle['autobahn'], 'idle_cpu'):.2f} % with pings."
        + ("" if sockets == 10000 else " (Quick run: fewer sockets than the target's 10,000.)")
    )
    return table


def _autobahn_version() -> str:
    from importlib.metadata import version

    return version("autobahn")


def _echo_table(echo: dict[str, list[dict[str, float]]], count: int, rounds: int) -> Table:
    table = Table(
        title="WebSocket echo round trip (client → interface server → Redis → worker → back)",
        method=(
            f"One socket, {count:,} text frames sent one at a time after 50 warm-up frames; the responder echoes "
            f"each. Figures are the medians over {rounds} rounds of each round's percentile, in milliseconds."
        ),
        columns=["server", "median (ms)", "p90 (ms)", "p99 (ms)", "mean (ms)"],
    )
    names = {"ours": "ours (daphne, this repo)", "legacy": "Daphne 1.4.2"}
    for stack in STACKS:
        rows = echo[stack]
        table.rows.append(
            [names[stack], _med(rows, "median_ms"), _med(rows, "p90_ms"), _med(rows, "p99_ms"), _med(rows, "mean_ms")]
        )
    ratio = _med(echo["legacy"], "median_ms") / max(_med(echo["ours"], "median_ms"), 1e-9)
    table.verdict = f"Median round trip: ours is {ratio:.1f}× faster than Daphne 1.4.2."
    return table
