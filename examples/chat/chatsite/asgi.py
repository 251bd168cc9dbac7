"""What ``daphne chatsite.asgi:channel_layer`` serves, exactly as in a Channels 1 project."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
channel_layer = get_channel_layer()
