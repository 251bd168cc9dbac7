"""Channel layer for legacy Daphne 1.4.2 (legacy venv): ``daphne legacy_layer:channel_layer`` from this folder.

asgi_redis 1.4.3, the layer Daphne 1.4.2 deployments used; the Redis URL comes from PARITY_REDIS_URL.
"""

import os

import asgi_redis

channel_layer = asgi_redis.RedisChannelLayer(hosts=[os.environ["PARITY_REDIS_URL"]])
