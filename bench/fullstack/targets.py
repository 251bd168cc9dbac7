"""The issue-7 targets, met or missed, in one table (runs after the other full-stack sections).

Each full-stack section records its targets with bench.fullstack.common.target. A target whose section
did not run in this process keeps its row from the previous report, marked "(earlier run)", so a partial
run (``--only``) never drops a verdict from the summary.
"""

from __future__ import annotations

from ..harness import REPORT, Context, Table
from .common import TARGETS, mark

TITLE = "Targets of issue 7"
EARLIER = " (earlier run)"


def previous_rows(report: str) -> list[list[str]]:
    """The rows of the targets table in a previous report (``report``'s text), without their markers."""
    rows: list[list[str]] = []
    inside = False
    for line in report.splitlines():
        if line.startswith("### " + TITLE):
            inside = True
        elif inside and line.startswith("| ") and not line.startswith("| target |"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) == 3:
                cells[2] = cells[2].removesuffix(EARLIER)
                rows.append(cells)
        elif inside and line.startswith("#"):
            break
    return rows


__all__ = ["run"]


def run(ctx: Context) -> list[Table]:
    table = Table(
        title=TITLE,
        method=(
            "Every target of the full-stack sections; figures are ours, medians as in each section. A row "
            "marked (earlier run) comes from the last run that measured it. A missed target is explained by the section's own table (and the CPU split under HTTP). "
            "The full-stack sections serve one Django project (bench/fullstack/project) from every system, "
            "all started by the harness (bench/fullstack/systems.py; Daphne 4, Channels 4, uvicorn and "
            "gunicorn come from bench/build_peers.sh's virtualenv, the legacy stack from "
            "tests/legacy/build.sh). Re-run them with `python -m bench fullstack` (`--quick` for a smoke "
            "run) or one with e.g. `python -m bench --only fullstack.http`; the other sections keep their "
            "text."
        ),
        columns=["target", "result", "figures"],
    )
    fresh = {name for name, _, _ in TARGETS}
    for name, met, detail in TARGETS:
        table.rows.append([name, mark(met), detail])
    kept = [row for row in previous_rows(REPORT.read_text() if REPORT.exists() else "") if row[0] not in fresh]
    for name, result, detail in kept:
        table.rows.append([name, result, detail + EARLIER])
    met = sum(1 for row in table.rows if row[1] == mark(True))
    table.verdict = (
        f"{met} of {len(table.rows)} targets met" + (f" ({len(kept)} from an earlier run)." if kept else ".")
        if table.rows
        else "No full-stack section has run yet."
    )
    return [table]
