"""What our daphne and Daphne 1.4.2 serve: ``daphne benchsite.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
channel_layer = get_channel_layer()
