"""Serving ``STATIC_URL`` from a worker: ``StaticFilesHandler`` and ``StaticFilesConsumer``.

What ``runserver`` and ``runworker`` put on ``http.request`` when ``django.contrib.staticfiles`` is
installed and ``DEBUG`` is on (reference §5.9): paths under ``STATIC_URL`` go to
``django.contrib.staticfiles.views.serve(insecure=True)``; anything else goes to the views.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from django.conf import settings
from django.http import Http404, HttpResponseBase

from .handler import AsgiHandler, ViewConsumer

__all__ = ["StaticFilesConsumer", "StaticFilesHandler"]


class StaticFilesHandler(AsgiHandler):
    """An ``AsgiHandler`` that answers requests under ``STATIC_URL`` from the staticfiles finders."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.base_url = urlparse(self.get_base_url())

    def get_base_url(self) -> str:
        from django.contrib.staticfiles import utils

        utils.check_settings()
        return str(settings.STATIC_URL)

    def _should_handle(self, path: str) -> bool:
        # A STATIC_URL with a host (a CDN) is not ours to serve.
        return path.startswith(self.base_url.path) and not self.base_url.netloc

    def file_path(self, url: str) -> str:
        """The path, relative to the static roots, of the file ``url`` names."""
        return url2pathname(url[len(self.base_url.path) :])

    def serve(self, request: Any) -> HttpResponseBase:
        from django.contrib.staticfiles.views import serve

        return serve(request, self.file_path(request.path), insecure=True)

    def get_response(self, request: Any) -> HttpResponseBase:
        if self._should_handle(request.path):
            try:
                return self.serve(request)
            except Http404 as error:
                if settings.DEBUG:
                    from django.views import debug

                    return debug.technical_404_response(request, error)
        return super().get_response(request)


class StaticFilesConsumer(ViewConsumer):
    """``ViewConsumer`` that also serves static files (see :class:`StaticFilesHandler`)."""

    handler_class = StaticFilesHandler
