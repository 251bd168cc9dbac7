"""A minimal Django project for the worker's unit and integration tests (memory or Redis layer)."""

import os


def ensure_django() -> None:
    """Set Django up with these settings unless another test module already configured it.

    The unit tests do not depend on which settings won: they swap layers with
    ``channel_layers.set`` and sessions with ``override_settings``.
    """
    import django
    from django.conf import settings

    if not settings.configured:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.djangoapp.settings")
    django.setup()
