"""Helpers shared by the full-stack scenarios: round order, percentiles, ratios, target verdicts."""

from __future__ import annotations

import os
import resource
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from .systems import LABELS


def raise_fd_limit() -> None:
    """Thousands of sockets in the harness and the servers (they inherit the limit)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def order(systems: Sequence[str], round_number: int) -> list[str]:
    """Alternate the order every round, so drift on the shared machine falls on every system alike."""
    return list(systems) if round_number % 2 == 0 else list(systems)[::-1]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def med(results: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def ratio(value: float, reference: float) -> str:
    if not reference or reference != reference or value != value:
        return "–"
    return f"{value / reference:.2f}×"


def label(system: str) -> str:
    return LABELS[system]


def log(message: str) -> None:
    print(f"   {message}", file=sys.stderr, flush=True)


def mark(met: bool) -> str:
    return "**met**" if met else "**missed**"


#: Every target evaluated in this process: (target, met, figures); bench.fullstack.targets tabulates them.
TARGETS: list[tuple[str, bool, str]] = []


def target(name: str, met: bool, detail: str) -> str:
    """Record one of the issue's targets and return its verdict text: ``name: **met** (detail)``."""
    TARGETS.append((name, met, detail))
    return f"{name}: {mark(met)} ({detail})"


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process from /proc (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
