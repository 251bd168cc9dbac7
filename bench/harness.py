"""The benchmark harness: scenarios, the shared context, and the report in docs/benchmarks.md.

A scenario module exposes ``run(ctx: Context) -> list[Table]``. It measures ours and the legacy stack
in the same run, alternating rounds so machine noise falls on both alike, and reports medians.
Legacy measurements run as separate processes in the legacy virtualenv (tests/legacy/build.sh).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"


@dataclass
class Table:
    """One result table: a title, a note on method, column names and rows of cells."""

    title: str
    method: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    verdict: str = ""

    def markdown(self) -> str:
        lines = [
            f"### {self.title}",
            "",
            self.method,
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "---|" * len(self.columns),
        ]
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        if self.verdict:
            lines += ["", self.verdict]
        return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Context:
    """What every scenario gets: the python of each stack, scratch space, and the round count."""

    rounds: int
    quick: bool
    legacy_venv: Path
    scratch: Path

    @property
    def legacy_python(self) -> str:
        return str(self.legacy_venv / "bin" / "python")

    @property
    def python(self) -> str:
        return sys.executable

    def run_json(self, argv: list[str], timeout: float = 600, env: dict[str, str] | None = None) -> Any:
        """Run a measurement process that prints one JSON document on its last stdout line."""
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"{argv} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def machine_summary() -> str:
    cpus = os.cpu_count()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{cpus} cores ({model}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def previous_sections(text: str) -> dict[str, str]:
    """The ``## title`` sections of an earlier report, by title (each with its body, up to the next one)."""
    found: dict[str, str] = {}
    title = None
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            title = line[3:].strip()
            found[title] = ""
        elif title is not None:
            found[title] += line
    return found


def code_state() -> str:
    """The commit measured, and the product files that differed from it (a shared checkout moves)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.rstrip() if done.returncode == 0 else ""  # porcelain lines start with a space

    head = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = [
        line[3:]
        for line in git(
            "status", "--porcelain", "--", "channellayer", "interfaceserver", "worker", "channels"
        ).splitlines()
        if line[:2].strip()
    ]
    return f"commit {head}" + (f" plus uncommitted changes to {', '.join(dirty)}" if dirty else "")


def write_report(
    sections: list[tuple[str, list[Table]]], header_notes: list[str], titles: list[str] | None = None
) -> None:
    """Rewrite docs/benchmarks.md. With ``titles`` (every scenario's section title, in report order), a
    section this run did not measure keeps its text from the previous report, so a partial run
    (``--only``) replaces only what it measured; each section carries the date and rounds it was measured."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    previous = REPORT.read_text() if titles is not None and REPORT.exists() else ""
    kept = previous_sections(previous)
    # A report from before per-section dates: its sections get the date of that whole run.
    old_run = [
        line[2:].strip()
        for line in previous.splitlines()[:20]
        if line.startswith(("- Run:", "- Machine:", "- Rounds per measurement:"))
    ]
    for title, body in kept.items():
        if old_run and not body.lstrip().startswith("_Measured"):
            kept[title] = "\n_Measured " + "; ".join(old_run).replace("Run: ", "") + "._\n" + body
    measured = [f"_Measured {now}; Machine: {machine_summary()}; {'; '.join(header_notes)}._", ""]
    parts = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand. Every table compares ours with the",
        "legacy stack (channels 1.1.8, daphne 1.4.2, asgi_redis 1.4.3, redis-py 2.10.6, msgpack 0.6.2) **in the same",
        "run on the same machine**, alternating rounds; figures are medians over the rounds. The machine is shared",
        "and noisy, so read ratios rather than absolute numbers. How the request path was made faster, change",
        "by change, with before/after figures and flame graphs: [hot-path.md](hot-path.md).",
        "",
        f"- Last run: {now} ({', '.join(t for t, _ in sections) or 'no section'})",
        f"- Machine: {machine_summary()}",
        *[f"- {note}" for note in header_notes],
        "",
    ]
    fresh = dict(sections)
    for title in titles if titles is not None else [t for t, _ in sections]:
        if title in fresh:
            parts += [f"## {title}", "", *measured]
            parts += [table.markdown() for table in fresh[title]]
        elif title in kept:
            parts += [f"## {title}", kept[title].rstrip("\n") + "\n"]
    REPORT.write_text("\n".join(parts))
