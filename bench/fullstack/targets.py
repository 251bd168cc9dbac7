"""The issue-7 targets of this run, met or missed, in one table (runs after the other full-stack sections).

Each full-stack section records its targets with bench.fullstack.common.target; a section not run in
this process has no row here (its own verdict in docs/benchmarks.md stays from its last run).
"""

from __future__ import annotations

from ..harness import Context, Table
from .common import TARGETS, mark

__all__ = ["run"]


def run(ctx: Context) -> list[Table]:
    table = Table(
        title="Targets of issue 7 (this run)",
        method=("Every target the full-stack sections of this run evaluated; figures are ours, medians as in each "
                "section. A missed target is explained by the section's own table (and the CPU split under HTTP). "
                "The full-stack sections serve one Django project (bench/fullstack/project) from every system, "
                "all started by the harness (bench/fullstack/systems.py; Daphne 4, Channels 4, uvicorn and "
                "gunicorn come from bench/build_peers.sh's virtualenv, the legacy stack from "
                "tests/legacy/build.sh). Re-run them with `python -m bench fullstack` (`--quick` for a smoke "
                "run) or one with e.g. `python -m bench --only fullstack.http`; the other sections keep their "
                "text."),
        columns=["target", "result", "figures"],
    )
    for name, met, detail in TARGETS:
        table.rows.append([name, mark(met), detail])
    if not TARGETS:
        table.verdict = "No full-stack section ran in this process."
    else:
        table.verdict = f"{sum(met for _, met, _ in TARGETS)} of {len(TARGETS)} targets met."
    return [table]
