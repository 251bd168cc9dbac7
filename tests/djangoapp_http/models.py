"""A model for the data-binding tests."""

from django.db import models


class Note(models.Model):
    title = models.CharField(max_length=100)
    group = models.CharField(max_length=20, default="a")
    count = models.IntegerField(default=0)

    class Meta:
        app_label = "djangoapp_http"

    def shout(self) -> str:
        return self.title.upper()
