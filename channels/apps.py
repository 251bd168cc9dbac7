"""``channels.apps.ChannelsConfig``: the app config of ``INSTALLED_APPS = ["channels"]``."""

from worker.apps import ChannelsConfig

__all__ = ["ChannelsConfig"]
