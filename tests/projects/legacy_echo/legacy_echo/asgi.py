"""The channel layer for legacy Daphne 1.4.2 and runworker: ``daphne legacy_echo.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_echo.settings")
channel_layer = get_channel_layer()
