"""The same Redis layer for OUR daphne (modern venv): ``daphne ours_layer:channel_layer`` from this folder."""

import os

from channellayer import get_channel_layer

channel_layer = get_channel_layer("redis", {"hosts": [os.environ["LEGACY_ECHO_REDIS_URL"]]})
