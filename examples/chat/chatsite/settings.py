"""The example project: a Channels 1 project, unchanged in style, on channels-classic.

Logged-in users chat in rooms (``Group`` per room), share a live list of notes (``WebsocketBinding``
behind a ``WebsocketDemultiplexer``) and ask for room reports that a separate worker pool renders
(channel ``reports.render``). Pages, the login form and static files are ordinary Django, served by
the workers through ``AsgiHandler``.

Everything the processes share lives under ``CHAT_RUN_DIR`` (default ``examples/chat/.run/``): the
SQLite database, the session cache and, unless ``REDIS_URL`` is set, the embedded SQLite channel
layer. With ``REDIS_URL`` the layer is Redis, configured the way a Channels 1 project configured
asgi_redis.
"""

import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_DIR = os.environ.get("CHAT_RUN_DIR", os.path.join(BASE_DIR, ".run"))
os.makedirs(RUN_DIR, exist_ok=True)

SECRET_KEY = os.environ.get("CHAT_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("CHAT_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"] + [h for h in os.environ.get("CHAT_ALLOWED_HOSTS", "").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "chatsite",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "chatsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
# Several worker processes write to one SQLite file: wait for each other's locks instead of failing.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(RUN_DIR, "db.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Sessions (HTTP and channel sessions alike) in a file cache shared by every worker process.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.path.join(RUN_DIR, "cache"),
    }
}

# The workers serve these themselves (StaticFilesConsumer on http.request, see routing.py); behind
# nginx, `collectstatic` into STATIC_ROOT and let nginx serve /static/ instead.
STATIC_URL = "/static/"
STATIC_ROOT = os.path.join(RUN_DIR, "static")

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
