"""Settings shared by both stacks. E2E_REDIS_PORT, E2E_REDIS_DB, E2E_PREFIX and E2E_CACHE_DIR come from the test.

Sessions live in a file-based cache: both Django versions pickle the session dict the same way
there, so a session written by one stack's worker (or view) is read by the other's.
"""

import os

SECRET_KEY = "e2e-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "e2eproject",
]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
ROOT_URLCONF = "e2eproject.urls"
DATABASES = {}
USE_TZ = True
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ.get("E2E_CACHE_DIR", "/tmp/e2e-cache"),
    }
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# E2E_REDIS_DB: a database of the shared test server that this stack alone uses.
_redis_url = "redis://127.0.0.1:{}/{}".format(
    int(os.environ.get("E2E_REDIS_PORT", "6379")), int(os.environ.get("E2E_REDIS_DB", "0"))
)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "ROUTING": "e2eproject.routing.channel_routing",
        "CONFIG": {
            "hosts": [_redis_url],
            "prefix": os.environ.get("E2E_PREFIX", "asgi:"),
            # The fault suite shortens it to see Redis return to its baseline without a minute's wait.
            "expiry": int(os.environ.get("E2E_EXPIRY", "60")),
        },
    },
}
