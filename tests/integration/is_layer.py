"""The channel layer object the integration tests hand to ``daphne tests.integration.is_layer:channel_layer``."""

import os

from channellayer import get_channel_layer

channel_layer = get_channel_layer(
    "redis",
    {"hosts": [os.environ["IS_REDIS_URL"]], "capacity": int(os.environ.get("IS_CAPACITY", "100"))},
)
