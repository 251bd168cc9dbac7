"""The Django app behind ``INSTALLED_APPS = ["channels"]``: bindings and the runserver patch at ready time."""

from __future__ import annotations

from django.apps import AppConfig, apps

__all__ = ["ChannelsConfig"]


class ChannelsConfig(AppConfig):
    """App label ``channels`` (as in 1.1.8), so migrations and templates keyed on it keep working.

    ``ready()`` does what 1.1.8's did, minus the version checks of asgi_redis & co. (there are none
    to check): with ``django.contrib.staticfiles`` installed, its ``runserver`` becomes ours, so
    ``manage.py runserver`` is the Channels one whatever the app order; the view handler becomes the
    default ``http.request`` consumer of ``Router.check_default``; then every ``Binding`` subclass is
    connected to its model's signals, and sessions learn Django 2.2's encoding and auth hash
    (``worker.legacy_sessions``).
    """

    name = "channels"
    label = "channels"
    verbose_name = "Channels"
    default = True

    def ready(self) -> None:
        # Imported here: both need the app registry, and runserver pulls in the interface server.
        if apps.is_installed("django.contrib.staticfiles"):
            from .management.commands.runserver import patch_staticfiles_runserver

            patch_staticfiles_runserver()
        # Routing stays free of the Django request machinery; the app wires the view handler in.
        from .handler import ViewConsumer
        from .routing import Router

        Router.default_http_consumer = ViewConsumer
        from .binding.base import register_all

        register_all()
        # Sessions and auth hashes shared with Django < 3.1 workers (CHANNELS_CLASSIC_MIXED_FLEET).
        from .legacy_sessions import install

        install()
