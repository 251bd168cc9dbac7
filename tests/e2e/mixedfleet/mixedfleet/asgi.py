"""What Daphne serves: ``daphne mixedfleet.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mixedfleet.settings")
channel_layer = get_channel_layer()
