"""``python -m channellayer status --layer NAME [--layer-config JSON]``: the status view without Django.

Options: ``--channel NAME`` (repeatable) watches more channels, ``--once`` prints one view and
exits, ``--json`` prints the snapshot as JSON (with ``--once``: one object; without: one per
line), ``--interval S`` is the refresh period, ``--metrics-port P`` (with ``--metrics-bind``)
serves the figures as Prometheus gauges at ``/metrics`` instead of printing. Exit status 0; with
``--once``, 3 when a channel is unconsumed (for scripts and probes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from .status import StatusCollector, render, snapshot, to_json

__all__ = ["add_status_arguments", "build_parser", "main", "run_status"]

#: Exit status of ``--once`` when some channel has no live consumer.
UNCONSUMED_EXIT = 3


def add_status_arguments(parser: Any) -> None:
    """The options shared with ``manage.py channels_status`` (argparse or Django's CommandParser)."""
    parser.add_argument(
        "--channel", action="append", dest="channels", default=[], help="Also watch this channel (repeatable)."
    )
    parser.add_argument("--once", action="store_true", help="Print one view and exit (3 if a channel is unconsumed).")
    parser.add_argument("--json", action="store_true", help="JSON instead of the terminal view.")
    parser.add_argument("--interval", type=float, default=2.0, help="Seconds between refreshes (default 2).")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="Serve channel depths and liveness as Prometheus gauges on this port instead.",
    )
    parser.add_argument("--metrics-bind", default="127.0.0.1", help="Address for --metrics-port (default 127.0.0.1).")


def run_status(layer: Any, options: Any, out: Any = None) -> int:
    """Run the view for parsed ``options`` on ``layer``; returns the exit status."""
    out = out or sys.stdout
    if options.interval <= 0:
        raise ValueError(f"--interval must be positive, not {options.interval!r}")
    if options.metrics_port is not None:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=False)
        registry.register(StatusCollector(layer, options.channels))
        server, thread = start_http_server(options.metrics_port, options.metrics_bind, registry=registry)
        out.write(f"Serving status metrics on http://{options.metrics_bind}:{server.server_port}/metrics\n")
        out.flush()
        try:
            while thread.is_alive():
                thread.join(1.0)
        except KeyboardInterrupt:
            server.shutdown()
        return 0
    previous = None
    try:
        while True:
            state = snapshot(layer, options.channels, previous)
            if options.json:
                out.write((to_json(state) if options.once else json.dumps(state, sort_keys=True)) + "\n")
            else:
                out.write(("" if options.once else "\x1b[H\x1b[2J") + render(state))
            out.flush()
            if options.once:
                return UNCONSUMED_EXIT if state["unconsumed"] else 0
            previous = state
            time.sleep(options.interval)
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m channellayer`` command line (one subcommand, ``status``)."""
    parser = argparse.ArgumentParser(prog="python -m channellayer")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="Live view of channels, workers and interface servers.")
    status.add_argument("--layer", required=True, help="Backend name (redis, sqlite, asgi_redis.RedisChannelLayer...).")
    status.add_argument("--layer-config", default="{}", help="JSON object of the backend's options.")
    add_status_arguments(status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        config = json.loads(options.layer_config)
    except json.JSONDecodeError as exc:
        parser.error(f"--layer-config is not JSON: {exc}")
    if not isinstance(config, dict):
        parser.error("--layer-config must be a JSON object")
    from . import get_channel_layer

    try:
        layer = get_channel_layer(options.layer, config)
        return run_status(layer, options)
    except ValueError as exc:
        parser.error(str(exc))
    return 2


if __name__ == "__main__":
    sys.exit(main())
