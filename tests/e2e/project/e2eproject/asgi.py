"""What Daphne serves: ``daphne e2eproject.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "e2eproject.settings")
channel_layer = get_channel_layer()
