"""Channel layer for OUR daphne in the parity suite: ``daphne ours_layer:channel_layer`` run from this folder.

The Redis URL comes from PARITY_REDIS_URL (each server of a pair has its own redis-server).
"""

import os

from channellayer import get_channel_layer

channel_layer = get_channel_layer("redis", {"hosts": [os.environ["PARITY_REDIS_URL"]]})
