from channels.routing import route

from .consumers import ws_connect, ws_disconnect, ws_receive

ROOM = r"^/chat/(?P<room>[a-zA-Z0-9_-]{1,50})/$"

channel_routing = [
    route("websocket.connect", ws_connect, path=ROOM),
    route("websocket.receive", ws_receive, path=r"^/chat/"),
    route("websocket.disconnect", ws_disconnect, path=r"^/chat/"),
]
