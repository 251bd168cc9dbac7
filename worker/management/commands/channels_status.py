"""``manage.py channels_status``: the live status view of the project's channel layer.

The same view as ``python -m channellayer status`` (see :mod:`channellayer.status`), on a
``CHANNEL_LAYERS`` alias: channels (depth, oldest message, send rate, consumers), live workers
(channels, messages served, throughput, last heartbeat) and interface servers, with a warning for
every channel that needs a consumer and has no live one. It also watches every channel the
alias's routing serves. ``--once`` prints one view (exit status 3 when a channel is unconsumed),
``--json`` prints JSON, ``--metrics-port`` exports the figures as Prometheus gauges.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management import BaseCommand, CommandError, CommandParser

from channellayer.__main__ import add_status_arguments, run_status
from worker.management.layers import add_layer_argument, layer_from_options

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Shows channel depths, live workers and interface servers of a channel layer."
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        add_layer_argument(parser)
        add_status_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        wrapper = layer_from_options(options)
        layer = getattr(wrapper, "channel_layer", wrapper)
        routed = sorted(getattr(getattr(wrapper, "router", None), "channels", ()) or ())
        options["channels"] = sorted({*options.get("channels", []), *routed})
        try:
            code = run_status(layer, _Options(options), self.stdout)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if code:
            sys.exit(code)


class _Options:
    """Django's option dict read as attributes, as run_status reads an argparse namespace."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.__dict__.update(options)
