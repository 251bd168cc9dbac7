"""Run wrk against a URL and read its figures exactly (a Lua ``done`` hook prints them as JSON).

wrk is a Debian package; :func:`ensure_wrk` installs it when missing and we are root (as the
Makefile does for redis-server). Latency percentiles come from wrk's own histogram (``--latency``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

_DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

_POST_BODY = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("p", %d)
"""


def ensure_wrk() -> str:
    """The wrk executable; installed with apt-get when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: install the 'wrk' package (sudo apt-get install wrk)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get install wrk did not provide a wrk executable")
    return found


def script(scratch: Path, post_bytes: int = 0) -> Path:
    """A wrk Lua script: the JSON hook, plus a POST body of ``post_bytes`` when asked."""
    path = scratch / f"wrk-{post_bytes}.lua"
    path.write_text((_POST_BODY % post_bytes if post_bytes else "") + _DONE_HOOK)
    return path


def run(url: str, connections: int, seconds: float, lua: Path, threads: int = 1, timeout: float = 10) -> dict[str, Any]:
    """One wrk run; returns req/s, p50/p90/p99/max in ms, errors (socket errors + non-2xx) and raw counts."""
    argv = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        f"--timeout={timeout:g}s",
        "-s",
        str(lua),
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout + 30)
    line = next((line for line in done.stdout.splitlines() if line.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    raw = json.loads(line[len("WRKJSON ") :])
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {
        "rps": raw["requests"] / seconds_run,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "requests": raw["requests"],
        "raw": raw,
    }
