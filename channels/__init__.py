"""Compatibility facade: the Channels 1.1.8 import paths, re-exported from ``worker``.

``INSTALLED_APPS = [..., "channels"]`` installs the app (``channels.apps.ChannelsConfig``), which
brings the ``runworker``, ``runserver`` and ``rundelay`` commands. No logic lives in this package.
"""

# The API this facade provides; libraries written for Channels 1 check it.
__version__ = "1.1.8"

# Django < 3.2 read this; newer Django finds the single AppConfig in channels.apps by itself.
default_app_config = "channels.apps.ChannelsConfig"

DEFAULT_CHANNEL_LAYER = "default"

from pathlib import Path as _Path  # noqa: E402

from ._shadowing import check_not_shadowed as _check_not_shadowed  # noqa: E402

# A project's worker.py beside manage.py would be imported instead of ours: say so, by file name.
_check_not_shadowed(_Path(__file__).resolve().parent.parent)

try:
    from worker.asgi import channel_layers  # noqa: E402
    from worker.channel import Channel, Group  # noqa: E402
    from worker.routing import include, route, route_class  # noqa: E402
except ModuleNotFoundError as _exc:
    # Only Django missing is tolerated (the version can be read anyway, as in 1.1.8); any other
    # import error is a real problem and propagates.
    if _exc.name != "django" and not (_exc.name or "").startswith("django."):
        raise

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
