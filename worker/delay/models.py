"""``DelayedMessage``: one message waiting in the database until its ``due_date``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import models
from django.utils import timezone

from .content import decode_content, encode_content

__all__ = ["DelayedMessage", "DelayedMessageQuerySet"]


class DelayedMessageQuerySet(models.QuerySet):
    def is_due(self) -> DelayedMessageQuerySet:
        """Rows whose ``due_date`` has passed."""
        due: DelayedMessageQuerySet = self.filter(due_date__lte=timezone.now())
        return due


class DelayedMessage(models.Model):
    """A message for ``channel_name``, sent when ``due_date`` passes (the 1.1.8 columns and table)."""

    due_date = models.DateTimeField(db_index=True)
    channel_name = models.CharField(max_length=512)
    content = models.TextField()

    objects = DelayedMessageQuerySet.as_manager()

    class Meta:
        app_label = "channels_delay"
        db_table = "channels.delay_delayedmessage"

    @property
    def delay(self) -> int:
        """Milliseconds from when it was set; setting it moves ``due_date`` to now + delay."""
        return int(getattr(self, "_delay", 0))

    @delay.setter
    def delay(self, milliseconds: int) -> None:
        self._delay = milliseconds
        self.due_date = timezone.now() + timedelta(milliseconds=milliseconds)

    def set_content(self, content: dict[str, Any]) -> None:
        """Store ``content`` (bytes allowed; see :mod:`worker.delay.content`)."""
        self.content = encode_content(content)

    def get_content(self) -> dict[str, Any]:
        """The stored content; reads rows written by Channels 1.1.8 (JSON) too."""
        return decode_content(self.content)

    def send(self, channel_layer: Any = None, requeue_delay: int = 1000) -> bool:
        """Send the content to ``channel_name`` now and delete the row; True if sent.

        On ChannelFull the row is kept and made due again ``requeue_delay`` ms later (False).
        """
        from ..asgi import DEFAULT_CHANNEL_LAYER, channel_layers

        layer = channel_layer if channel_layer is not None else channel_layers[DEFAULT_CHANNEL_LAYER]
        try:
            layer.send(self.channel_name, self.get_content())
        except layer.ChannelFull:
            self.delay = requeue_delay
            self.save(update_fields=["due_date"])
            return False
        self.delete()
        return True

    def __str__(self) -> str:
        return f"DelayedMessage to {self.channel_name} at {self.due_date.isoformat()}"
