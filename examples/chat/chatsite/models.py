"""What the example stores: chat lines, shared notes (the live list) and rendered room reports."""

from django.conf import settings
from django.db import models


class ChatMessage(models.Model):
    """One line said in a room."""

    room = models.CharField(max_length=50, db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    text = models.CharField(max_length=2000)
    created = models.DateTimeField(auto_now_add=True)


class Note(models.Model):
    """An entry in a room's live list; every change reaches open pages through ``NoteBinding``."""

    room = models.CharField(max_length=50, db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    text = models.CharField(max_length=500)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "pk"]


class Report(models.Model):
    """A room report: asked for on the page, rendered later by the ``reports.*`` worker pool."""

    QUEUED, DONE = "queued", "done"

    room = models.CharField(max_length=50)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    status = models.CharField(max_length=10, default=QUEUED)
    body = models.TextField(blank=True)
    rendered_by = models.IntegerField(null=True)  # pid of the worker that rendered it
    created = models.DateTimeField(auto_now_add=True)
