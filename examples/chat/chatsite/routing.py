"""The project's routing, as in Channels 1: ``route``, ``route_class`` and ``include`` with path filters."""

from channels.routing import include, route, route_class
from channels.staticfiles import StaticFilesConsumer

from .consumers import LiveStream, chat_connect, chat_disconnect, chat_receive
from .reports import render_report

ROOM = r"^(?P<room>[a-zA-Z0-9_-]{1,50})/$"

chat_routing = [
    route("websocket.connect", chat_connect, path=ROOM),
    route("websocket.receive", chat_receive, path=ROOM),
    route("websocket.disconnect", chat_disconnect, path=ROOM),
]

channel_routing = [
    # Pages, the login form and /static/ (websocketbridge.js): Django views through AsgiHandler.
    route("http.request", StaticFilesConsumer()),
    include(chat_routing, path=r"^/chat/"),
    route_class(LiveStream, path=r"^/live/(?P<room>[a-zA-Z0-9_-]{1,50})/$"),
    # Background work, consumed only by the pool started with --only-channels=reports.*
    route("reports.render", render_report),
]
