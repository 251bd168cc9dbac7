"""The example chat project: a Channels 1 project, unchanged in style, on channels-classic.

The channel layer is the embedded SQLite layer (a file under ``CHAT_RUN_DIR``) unless ``REDIS_URL`` is
set, in which case it is Redis, configured the way a Channels 1 project configured asgi_redis.
"""

import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_DIR = os.environ.get("CHAT_RUN_DIR", os.path.join(BASE_DIR, ".run"))
os.makedirs(RUN_DIR, exist_ok=True)

SECRET_KEY = os.environ.get("CHAT_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("CHAT_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "chatsite",
]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
ROOT_URLCONF = "chatsite.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {}
USE_TZ = True

# Sessions in a file cache: no database to migrate, shared by every worker process.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                      "LOCATION": os.path.join(RUN_DIR, "cache")}}

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "asgi_redis.RedisChannelLayer",
            "ROUTING": "chatsite.routing.channel_routing",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
        },
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "sqlite",
            "ROUTING": "chatsite.routing.channel_routing",
            "CONFIG": {"path": os.path.join(RUN_DIR, "layer.sqlite3")},
        },
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
