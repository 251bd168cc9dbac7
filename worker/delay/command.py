"""``manage.py rundelay [--layer ALIAS] [--sleep SECONDS]``: run the delay server."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management import BaseCommand, CommandError

from ..management.layers import add_layer_argument, layer_from_options
from .server import DelayServer

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Runs the Channels delay server: stores asgi.delay messages and sends them when due."
    leave_locale_alone = True

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        add_layer_argument(parser)
        parser.add_argument(
            "--sleep",
            action="store",
            dest="sleep",
            default=1.0,
            type=float,
            help="Longest time between two checks of the database for due messages, in seconds.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sleep"] <= 0:
            raise CommandError(f"--sleep must be positive, not {options['sleep']}")
        logger = logging.getLogger("django.channels")
        if not logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(module)s - %(message)s"))
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if options.get("verbosity", 1) > 1 else logging.INFO)
        layer = layer_from_options(options, cross_process=True)
        logger.info("Running delay against channel layer %s", layer)
        DelayServer(layer, database_sleep=options["sleep"]).run()
