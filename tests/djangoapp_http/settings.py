"""Settings for the HTTP-side tests: the worker test settings plus views, static files, a model and the delay app.

A superset of ``tests.djangoapp.settings`` so both groups of tests can run under one configuration.
``TEST_REDIS_PORT`` switches the layer to Redis (as there); ``TEST_DB`` names the database file that
tests running several processes share (unit tests use an in-memory database, see ``bootstrap``).
"""

import os

from tests.djangoapp.settings import *  # noqa: F403
from tests.djangoapp.settings import CHANNEL_LAYERS
from tests.djangoapp.settings import INSTALLED_APPS as _BASE_APPS

INSTALLED_APPS = [
    *_BASE_APPS,
    "django.contrib.staticfiles",
    "channels.delay",
    "tests.djangoapp_http",
]
if os.environ.get("TEST_STATICFILES_FIRST"):
    # The usual order in real projects: staticfiles' runserver would win without the app's patch.
    INSTALLED_APPS.remove("django.contrib.staticfiles")
    INSTALLED_APPS.insert(0, "django.contrib.staticfiles")
ROOT_URLCONF = "tests.djangoapp_http.urls"
STATIC_URL = "/static/"
STATICFILES_DIRS = [os.path.join(os.path.dirname(__file__), "static_src")]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
if os.environ.get("TEST_ROUTING"):
    CHANNEL_LAYERS["default"]["ROUTING"] = os.environ["TEST_ROUTING"]
if os.environ.get("TEST_DEBUG"):
    DEBUG = True
if os.environ.get("TEST_LIVE"):
    # ChannelLiveServerTestCase: a file test database other processes can open, a TEST_CONFIG, and
    # one layer only (it refuses several, as 1.1.8 did).
    for _alias in [a for a in CHANNEL_LAYERS if a != "default"]:
        del CHANNEL_LAYERS[_alias]
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_LIVE_DB"]}  # noqa: F405
    _test_config = dict(CHANNEL_LAYERS["default"].get("CONFIG", {}))
    if "hosts" in _test_config:
        _test_config["prefix"] = "livetest:"
    CHANNEL_LAYERS["default"]["TEST_CONFIG"] = _test_config
