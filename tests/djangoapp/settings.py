"""Settings for the worker tests: in-memory layer by default; ``TEST_REDIS_PORT`` switches to Redis.

The integration tests run ``python -m django runworker --settings=tests.djangoapp.settings`` with
``TEST_REDIS_PORT`` (and the ``TEST_*`` knobs below) in the environment.
"""

import os
import tempfile

SECRET_KEY = "worker-tests-not-secret"
# TEST_DEBUG=1: DEBUG with staticfiles, so runworker serves STATIC_URL (StaticFilesConsumer).
DEBUG = bool(os.environ.get("TEST_DEBUG"))
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "tests.djangoapp",
] + (["django.contrib.staticfiles"] if DEBUG else [])
STATIC_URL = "/static/"
STATICFILES_DIRS = [os.path.join(os.path.dirname(__file__), "static")]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TEST_DB", os.path.join(tempfile.gettempdir(), "worker-tests.sqlite3")),
    }
}
SESSION_ENGINE = os.environ.get("TEST_SESSION_ENGINE", "django.contrib.sessions.backends.cache")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "tests.djangoapp.urls"
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

_redis_port = os.environ.get("TEST_REDIS_PORT")
if _redis_port:
    _layer = {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "ROUTING": os.environ.get("TEST_ROUTING", "tests.djangoapp.routing.channel_routing"),
        "CONFIG": {
            "hosts": [("127.0.0.1", int(_redis_port))],
            "prefix": os.environ.get("TEST_PREFIX", "asgi:"),
        },
    }
    if os.environ.get("TEST_CAPACITY"):
        _layer["CONFIG"]["channel_capacity"] = {"full.*": int(os.environ["TEST_CAPACITY"])}
else:
    _layer = {"BACKEND": "asgiref.inmemory.ChannelLayer", "ROUTING": "tests.djangoapp.routing.channel_routing"}
CHANNEL_LAYERS = {"default": _layer}
if _redis_port:
    # A second alias on another prefix, for runworker --layer.
    CHANNEL_LAYERS["other"] = {**_layer, "CONFIG": {**_layer["CONFIG"], "prefix": "other-alias:"}}
