"""Chat rooms at /room/NAME/ for logged-in users (Channels 1.1.8 API only)."""

from channels.routing import route

from . import consumers

channel_routing = [
    route("websocket.connect", consumers.room_connect, path=r"^/room/(?P<room>[a-z0-9]+)/$"),
    route("websocket.receive", consumers.room_receive, path=r"^/room/[a-z0-9]+/$"),
    route("websocket.disconnect", consumers.room_disconnect, path=r"^/room/[a-z0-9]+/$"),
]
