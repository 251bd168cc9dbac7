"""Compatibility facade: the Channels 1.1.8 import paths, re-exported from ``worker``.

``INSTALLED_APPS = [..., "channels"]`` installs the app (``channels.apps.ChannelsConfig``), which
brings the ``runworker``, ``runserver`` and ``rundelay`` commands. No logic lives in this package.
"""

# The API this facade provides; libraries written for Channels 1 check it.
__version__ = "1.1.8"

# Django < 3.2 read this; newer Django finds the single AppConfig in channels.apps by itself.
default_app_config = "channels.apps.ChannelsConfig"

DEFAULT_CHANNEL_LAYER = "default"

try:
    from worker.asgi import channel_layers  # noqa: E402
    from worker.channel import Channel, Group  # noqa: E402
    from worker.routing import include, route, route_class  # noqa: E402
except ImportError:  # Django is not installed: let the version be read anyway, as 1.1.8 did.
    pass

__all__ = [
    "DEFAULT_CHANNEL_LAYER",
    "Channel",
    "Group",
    "channel_layers",
    "default_app_config",
    "include",
    "route",
    "route_class",
]
