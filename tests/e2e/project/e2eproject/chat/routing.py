from channels.routing import route

from .consumers import chat_connect, chat_disconnect, chat_receive

chat_routing = [
    route("websocket.connect", chat_connect, path=r"^/(?P<room>[a-z0-9]+)/$"),
    route("websocket.receive", chat_receive),
    route("websocket.disconnect", chat_disconnect),
]
