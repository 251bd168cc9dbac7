"""What the interface servers serve: ``daphne deploysite.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deploysite.settings")
channel_layer = get_channel_layer()
