"""A Channels 1 chat with logins, shared by the old stack (Django 2.2) and ours during a migration.

The test sets: E2E_REDIS_PORT, E2E_PREFIX, E2E_DB (the SQLite file with users, and sessions when
E2E_SESSIONS=db), E2E_CACHE_DIR (the session cache when E2E_SESSIONS=cache), E2E_STACK (a label
the consumers report) and E2E_MIXED_FLEET=1 for CHANNELS_CLASSIC_MIXED_FLEET (old Django ignores it).
"""

import os

SECRET_KEY = "mixed-fleet-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "channels",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "mixedfleet.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("E2E_DB", "/tmp/mixedfleet.sqlite3"),
        # Several workers of both stacks write sessions to one file: wait for the lock, don't fail.
        "OPTIONS": {"timeout": 30},
    }
}
SESSION_ENGINE = {
    "cache": "django.contrib.sessions.backends.cache",
    "db": "django.contrib.sessions.backends.db",
}[os.environ.get("E2E_SESSIONS", "cache")]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ.get("E2E_CACHE_DIR", "/tmp/mixedfleet-cache"),
    }
}
# Fast logins; both Django versions have this hasher and neither re-hashes its passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNELS_CLASSIC_MIXED_FLEET = os.environ.get("E2E_MIXED_FLEET") == "1"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "ROUTING": "mixedfleet.routing.channel_routing",
        "CONFIG": {
            "hosts": [("127.0.0.1", int(os.environ.get("E2E_REDIS_PORT", "6379")))],
            "prefix": os.environ.get("E2E_PREFIX", "asgi:"),
            # One Daphne's reply channels share one list in asgi_redis 1.4: room bursts need room.
            "capacity": 1000,
        },
    },
}
