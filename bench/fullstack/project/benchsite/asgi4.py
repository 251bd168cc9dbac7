"""Daphne 4 + Channels 4 in one process: Django's ASGI app for HTTP, an async echo consumer for /echo/."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from django.urls import path  # noqa: E402

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402


class Echo(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)


application = ProtocolTypeRouter(
    {
        "http": django_app,
        "websocket": URLRouter([path("echo/", Echo.as_asgi())]),
    }
)
