"""Settings: Django 2.2 + Channels 1.1.8 on asgi_redis; the Redis URL comes from LEGACY_ECHO_REDIS_URL."""

import os

SECRET_KEY = "legacy-echo-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE = []
ROOT_URLCONF = "legacy_echo.urls"
DATABASES = {}
USE_TZ = True
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "ROUTING": "legacy_echo.routing.channel_routing",
        "CONFIG": {"hosts": [os.environ.get("LEGACY_ECHO_REDIS_URL", "redis://127.0.0.1:6379/0")]},
    },
}
