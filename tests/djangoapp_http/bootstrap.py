"""Set Django up for the HTTP-side tests, once per process, on a shared in-memory test database."""

from __future__ import annotations

import os

import django
from django.apps import apps

SETTINGS = "tests.djangoapp_http.settings"


def setup() -> None:
    """Configure Django with ``tests.djangoapp_http.settings`` (unless already) and create the test database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    django.setup()
    if not apps.is_installed("tests.djangoapp_http"):
        raise RuntimeError(
            f"Django is configured with {os.environ.get('DJANGO_SETTINGS_MODULE')!r}, which lacks "
            f"tests.djangoapp_http; run these tests with DJANGO_SETTINGS_MODULE={SETTINGS} (a superset)"
        )
    from django.db import connection

    if not str(connection.settings_dict["NAME"]).startswith("file:memorydb"):
        # An in-memory database shared by every thread of this process (Django's test-runner naming).
        # Nothing to serialize (no fixtures persist between these tests). Django 6 serializes only when
        # asked and deprecates the argument; older versions serialize unless told not to.
        no_serializing = {} if django.VERSION >= (6, 0) else {"serialize": False}
        connection.creation.create_test_db(verbosity=0, autoclobber=True, **no_serializing)
