"""``python -m bench [NAME ...] [--quick] [--only NAME ...]``: run the scenarios and rewrite docs/benchmarks.md.

A NAME (positional or ``--only``) selects the scenario modules whose name contains it:
``python -m bench fullstack --quick`` runs every full-stack section, ``--only fullstack.http`` one of
them. Sections not run keep their previous text in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tests.legacy import legacy_venv

from .harness import Context, Table, code_state, write_report

#: (section title, module). Each module has ``run(ctx) -> list[Table]``.
SCENARIOS = [
    ("Channel layer: ours vs asgi_redis 1.4.3", "bench.channel_layer"),
    ("Interface server: ours vs Daphne 1.4.2", "bench.interface_server"),
    ("Fault suite (figures also in docs/reliability.md)", "bench.faults"),
    ("Full stack: HTTP — ours vs legacy vs gunicorn vs Daphne 4 + Channels 4 vs uvicorn", "bench.fullstack.http"),
    ("Where the time goes: CPU per request, by process", "bench.request_cost"),
    ("Full stack: WebSocket echo", "bench.fullstack.websocket"),
    ("Full stack: broadcast", "bench.fullstack.broadcast"),
    ("Full stack: connection avalanche", "bench.fullstack.avalanche"),
    ("Full stack: streaming and head-of-line blocking", "bench.fullstack.streaming"),
    ("Full stack: rollout under load", "bench.fullstack.rollout"),
    ("Full stack: issue 7 targets", "bench.fullstack.targets"),
    ("SQLite layer: HTTP beside Redis, wake-up latency, soak, idle CPU", "bench.sqlite_layer"),
]


def report_order() -> list[str]:
    """Section titles in report order: the targets summary runs last but reads first among the full-stack ones."""
    titles = [title for title, _ in SCENARIOS]
    summary = next(title for title, module in SCENARIOS if module == "bench.fullstack.targets")
    titles.remove(summary)
    titles.insert(next(i for i, t in enumerate(titles) if t.startswith("Full stack:")), summary)
    return titles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="run only scenario modules containing one of these (like --only)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sizes (smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per measurement (default 5, quick 2)")
    parser.add_argument("--only", action="append", default=[], help="run only scenario modules containing this")
    parser.add_argument("--no-report", action="store_true", help="print the tables instead of writing the report")
    args = parser.parse_args(argv)
    args.only += args.names
    unknown = [o for o in args.only if not any(o in module for _, module in SCENARIOS)]
    if unknown:
        parser.error(f"no scenario matches {unknown}; scenarios: {', '.join(m for _, m in SCENARIOS)}")
    rounds = args.rounds or (2 if args.quick else 5)
    ctx = Context(
        rounds=rounds, quick=args.quick, legacy_venv=legacy_venv(), scratch=Path(tempfile.mkdtemp(prefix="bench-"))
    )
    sections: list[tuple[str, list[Table]]] = []
    started = time.monotonic()
    code = code_state()  # at the start: a shared checkout may move while the bench runs
    failed = 0
    for title, module_name in SCENARIOS:
        if args.only and not any(o in module_name for o in args.only):
            continue
        module = importlib.import_module(module_name)
        print(f"== {title}", file=sys.stderr, flush=True)
        section_started = time.monotonic()
        try:
            tables = module.run(ctx)
        except Exception:  # one broken section must not throw away the others' figures
            failed += 1
            trace = traceback.format_exc()
            print(trace, file=sys.stderr, flush=True)
            last = trace.strip().splitlines()[-1]
            tables = [
                Table(
                    "Section failed",
                    f"This section raised before it had figures: `{last}` "
                    "(the full traceback is in the bench run's output).",
                    ["section", "error"],
                    [[module_name, last]],
                )
            ]
        print(f"== {title}: {time.monotonic() - section_started:.0f} s", file=sys.stderr, flush=True)
        for table in tables:
            print(table.markdown(), file=sys.stderr, flush=True)
        sections.append((title, tables))
    if not args.no_report:
        write_report(
            sections,
            [
                f"rounds per measurement: {rounds}" + (" (quick run)" if args.quick else ""),
                f"code at the start: {code}",
            ],
            titles=report_order(),
        )
    print(f"== all: {time.monotonic() - started:.0f} s, {failed} section(s) failed", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
