"""The ``--layer`` option shared by the worker's management commands, and the layer it names."""

from __future__ import annotations

from typing import Any

from django.core.management import CommandError

from ..asgi import DEFAULT_CHANNEL_LAYER, ChannelLayerWrapper, InvalidChannelLayerError, channel_layers

__all__ = ["add_layer_argument", "layer_from_options"]


def add_layer_argument(parser: Any) -> None:
    """Add ``--layer ALIAS`` (default ``"default"``) to a command's parser."""
    parser.add_argument(
        "--layer",
        dest="layer",
        default=DEFAULT_CHANNEL_LAYER,
        help="Channel layer alias to use, if not the default.",
    )


def layer_from_options(options: dict[str, Any], cross_process: bool = False) -> ChannelLayerWrapper:
    """The layer of ``options["layer"]``; ``CommandError`` when the alias is unusable, or when
    ``cross_process`` is asked for and the layer lives in this process only (the in-memory layer)."""
    try:
        layer = channel_layers[options.get("layer") or DEFAULT_CHANNEL_LAYER]
    except InvalidChannelLayerError as exc:
        raise CommandError(str(exc)) from exc
    if cross_process and layer.local_only():
        raise CommandError(
            "You cannot span multiple processes with the in-memory layer. "
            "Change your settings to use a cross-process channel layer."
        )
    return layer
