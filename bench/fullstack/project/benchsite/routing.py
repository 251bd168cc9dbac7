"""Channels 1 routing: /echo/ echoes every frame, /broadcast/ joins the broadcast group.

HTTP goes to Django's views through the default http.request consumer.
"""

from channels.routing import route

from . import consumers

channel_routing = [
    route("websocket.connect", consumers.accept, path=r"^/echo/$"),
    route("websocket.receive", consumers.echo, path=r"^/echo/$"),
    route("websocket.connect", consumers.broadcast_connect, path=r"^/broadcast/$"),
    route("websocket.disconnect", consumers.broadcast_disconnect, path=r"^/broadcast/$"),
]
