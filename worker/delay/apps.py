"""App config of ``"channels.delay"``: a valid label on modern Django, the old table name kept."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["DelayConfig"]


class DelayConfig(AppConfig):
    """``INSTALLED_APPS = [..., "channels.delay"]``.

    Channels 1.1.8 used the label ``"channels.delay"``, which Django >= 3.2 rejects (not an
    identifier). The label is now ``channels_delay``; the model keeps the 1.1.8 table name
    (``channels.delay_delayedmessage``) and its migration adopts an existing table instead of
    creating it, so a database that ran 1.1.8 keeps its pending rows.
    """

    name = "channels.delay"
    label = "channels_delay"
    verbose_name = "Channels Delay"
    default = True
    default_auto_field = "django.db.models.AutoField"
