"""Settings of the deploy tests' project; DEPLOY_REDIS_URL, DEPLOY_PREFIX and DEPLOY_STATIC_ROOT come from the test.

The same project plays the example's part in every deploy file (``chatsite`` there is swapped for
``deploysite``): it reports what the worker saw of the client, so a test can check what the
interface server and the proxy in front of it passed on.
"""

import os

SECRET_KEY = "deploy-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "channels",
    "deploysite",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "deploysite.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("DEPLOY_STATIC_ROOT", "/tmp/deploysite-static")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"django.channels": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "ROUTING": "deploysite.routing.channel_routing",
        "CONFIG": {
            "hosts": [os.environ.get("DEPLOY_REDIS_URL", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))],
            "prefix": os.environ.get("DEPLOY_PREFIX", "asgi:"),
            # Sized for a rollout window (docs/deploying.md): while the workers restart (~10 s here:
            # an idle worker leaves its blocking receive within 5 s, a new one starts in ~2 s), the
            # test's sockets queue ~30 messages a second. The default 100 closes them with 1013
            # (try it: DEPLOY_CAPACITY=100 pytest tests/deploy/test_supervisord.py).
            "capacity": int(os.environ.get("DEPLOY_CAPACITY", "1000")),
        },
    },
}
