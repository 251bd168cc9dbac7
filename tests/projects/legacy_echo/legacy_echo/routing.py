"""WebSocket routes; http.request falls to Channels' default ViewConsumer (Django views in urls.py)."""

from channels.routing import route

from . import consumers

channel_routing = [
    route("websocket.connect", consumers.reject, path=r"^/ws/reject/$"),
    route("websocket.connect", consumers.group_join, path=r"^/ws/group/(?P<name>[a-z0-9]+)/$"),
    route("websocket.receive", consumers.group_say, path=r"^/ws/group/(?P<name>[a-z0-9]+)/$"),
    route("websocket.disconnect", consumers.group_leave, path=r"^/ws/group/(?P<name>[a-z0-9]+)/$"),
    route("websocket.connect", consumers.echo_connect, path=r"^/ws/echo/$"),
    route("websocket.receive", consumers.echo, path=r"^/ws/echo/$"),
]
