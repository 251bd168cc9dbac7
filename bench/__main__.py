"""``python -m bench [--quick] [--only NAME ...]``: run the scenarios and rewrite docs/benchmarks.md."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from pathlib import Path

from .harness import Context, Table, legacy_venv, write_report

#: (section title, module). Each module has ``run(ctx) -> list[Table]``.
SCENARIOS = [
    ("Channel layer: ours vs asgi_redis 1.4.3", "bench.channel_layer"),
    ("Interface server: ours vs Daphne 1.4.2", "bench.interface_server"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sizes (smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per measurement (default 5, quick 2)")
    parser.add_argument("--only", action="append", default=[], help="run only scenario modules containing this")
    parser.add_argument("--no-report", action="store_true", help="print the tables instead of writing the report")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 5)
    ctx = Context(rounds=rounds, quick=args.quick, legacy_venv=legacy_venv(),
                  scratch=Path(tempfile.mkdtemp(prefix="bench-")))
    sections: list[tuple[str, list[Table]]] = []
    for title, module_name in SCENARIOS:
        if args.only and not any(o in module_name for o in args.only):
            continue
        module = importlib.import_module(module_name)
        print(f"== {title}", file=sys.stderr, flush=True)
        tables = module.run(ctx)
        for table in tables:
            print(table.markdown(), file=sys.stderr, flush=True)
        sections.append((title, tables))
    if not args.no_report:
        write_report(sections, [f"Rounds per measurement: {rounds}" + (" (quick run)" if args.quick else "")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
