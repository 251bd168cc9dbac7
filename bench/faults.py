"""The fault suite's long form (``FAULTS_FORM=long pytest tests/faults``) and its figures in docs/reliability.md.

``run(ctx)`` runs the suite as a separate pytest process (``--quick``: the short form), reads the
figures each test recorded (FAULTS_REPORT, one JSON object a line, see tests/faults/support.py),
rewrites the block between the ``figures`` markers of docs/reliability.md and returns the same
figures as a table for docs/benchmarks.md. A failing test fails the bench run: a figure from a run
whose assertions did not hold is not published.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .harness import ROOT, Context, Table, machine_summary

DOC = ROOT / "docs" / "reliability.md"
BEGIN = "<!-- figures:begin (written by `make bench`, bench/faults.py) -->"
END = "<!-- figures:end -->"


def run_suite(form: str) -> tuple[list[dict[str, Any]], float]:
    """Run tests/faults in ``form``; return the recorded figures and the wall time."""
    report = Path(tempfile.mkstemp(prefix="faults-", suffix=".jsonl")[1])
    env = {**os.environ, "FAULTS_FORM": form, "FAULTS_REPORT": str(report)}
    started = datetime.datetime.now()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/faults", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    elapsed = (datetime.datetime.now() - started).total_seconds()
    if done.returncode != 0:
        log = report.with_suffix(".log")
        log.write_text(done.stdout + done.stderr)
        failures = [line for line in done.stdout.splitlines() if line.startswith(("E ", "FAILED", "ERROR"))]
        raise RuntimeError(
            f"the fault suite ({form} form) failed (whole output in {log}):\n" + "\n".join(failures[-60:])
        )
    return [json.loads(line) for line in report.read_text().splitlines() if line.strip()], elapsed


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in sorted(value.items(), key=lambda kv: -kv[1]))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "nothing"
    return str(value)


def table(figures: list[dict[str, Any]], form: str, elapsed: float) -> Table:
    rows = []
    for item in figures:
        shown = {k: v for k, v in item.items() if k not in ("test", "form")}
        rows.append([item["test"], "; ".join(f"{k} = {_fmt(v)}" for k, v in shown.items())])
    return Table(
        title=f"Fault suite, {form} form ({len(figures)} scenarios, all assertions held, {elapsed:.0f} s)",
        method="Real redis-server, daphne and runworker processes of tests/e2e/project; each row is one test of "
        "tests/faults with the figures it measured. Outcomes are counted per request as the clients saw them.",
        columns=["scenario", "figures"],
        rows=rows,
    )


def totals(figures: list[dict[str, Any]]) -> list[str]:
    """The headline: load held, faults survived, bad inputs tried, nothing lost."""
    by_test = {item["test"]: item for item in figures}
    requests = sum(int(item.get("requests", 0)) for item in figures)
    requests += sum(sum(item["others"].values()) for item in figures if isinstance(item.get("others"), dict))
    lines = [
        f"- Load held: {requests:,} HTTP requests and WebSocket round trips counted by the load clients "
        f"across the scenarios, every one answered as the table says (no hang, no connection error)",
        f"- Faults survived: {len(figures)} scenarios, no process exited unless the test killed it, nothing restarted",
    ]
    slow = by_test.get("slow and abandoned clients")
    if slow:
        lines.append(
            f"- Bad inputs tried: {slow['connections']:,} hostile connections at once "
            f"({slow['slowloris']} slowloris, {slow['slow_readers']} slow readers, "
            f"{slow['stalled_uploads']} stalled uploads, {slow['abandoned']:,} abandoned); Redis out of "
            f"memory; the malformed-protocol battery is tests/integration/test_is_badinput.py and "
            f"tests/compat/parity"
        )
    drain = by_test.get("interface server SIGTERM under load")
    if drain:
        lines.append(
            f"- Nothing lost: on SIGTERM {drain['completed_200']}/{drain['in_flight']} in-flight responses "
            f"completed and {drain['disconnects_consumed']}/{drain['websockets']} websocket.disconnect "
            f"messages were consumed by a worker; after a load run Redis held only the live socket's group"
            f", named-channel counters and the processes' heartbeats. (A worker killed mid-consumer loses its one message: at most once.)"
        )
    return lines


def write_doc(result: Table, form: str, figures: list[dict[str, Any]] | None = None) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = "\n".join(
        [
            BEGIN,
            "",
            f"- Run: {now}, {form} form (`FAULTS_FORM={form}`)",
            f"- Machine: {machine_summary()}",
            *totals(figures or []),
            "",
            result.markdown(),
            END,
        ]
    )
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + block + text[end:])


def run(ctx: Context) -> list[Table]:
    form = "short" if ctx.quick else "long"
    figures, elapsed = run_suite(form)
    result = table(figures, form, elapsed)
    write_doc(result, form, figures)
    return [result]


if __name__ == "__main__":
    # python -m bench.faults [short|long]   or   python -m bench.faults FIGURES.jsonl FORM SECONDS (re-render)
    chosen = sys.argv[1] if len(sys.argv) > 1 else "long"
    if chosen.endswith(".jsonl"):
        found = [json.loads(line) for line in Path(chosen).read_text().splitlines() if line.strip()]
        chosen, seconds = sys.argv[2], float(sys.argv[3])
    else:
        found, seconds = run_suite(chosen)
    shown = table(found, chosen, seconds)
    write_doc(shown, chosen, found)
    print(shown.markdown())
