"""Settings for every system; BENCH_STACK, BENCH_REDIS_PORT and BENCH_SQLITE_PATH come from the harness."""

import os

STACK = os.environ.get("BENCH_STACK", "ours")

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
# No middleware: every system runs the same bare view, so the figures compare the servers, not Django.
MIDDLEWARE: list = []
ROOT_URLCONF = "benchsite.urls"
DATABASES: dict = {}
USE_TZ = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
INSTALLED_APPS = ["benchsite"]

if STACK in ("ours", "legacy"):
    INSTALLED_APPS = ["channels", "benchsite"]
    if os.environ.get("BENCH_SQLITE_PATH"):
        LAYER = {"BACKEND": "sqlite", "CONFIG": {"path": os.environ["BENCH_SQLITE_PATH"]}}
    else:
        LAYER = {
            "BACKEND": "asgi_redis.RedisChannelLayer",
            "CONFIG": {"hosts": [("127.0.0.1", int(os.environ.get("BENCH_REDIS_PORT", "6379")))]},
        }
    # The broadcast scenario puts up to 5,000 sockets in one group.
    LAYER["CONFIG"]["group_expiry"] = 3600
    CHANNEL_LAYERS = {"default": {**LAYER, "ROUTING": "benchsite.routing.channel_routing"}}
elif STACK == "channels4":
    INSTALLED_APPS = ["channels", "benchsite"]
    ASGI_APPLICATION = "benchsite.asgi4.application"
