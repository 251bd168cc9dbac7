"""The project's routing: path filters, include(), route_class, and a channel for a separate pool."""

from channels.routing import include, route, route_class

from . import consumers

channel_routing = [
    route("websocket.receive", consumers.echo_receive, path=r"^/echo/$"),
    route("websocket.receive", consumers.job_receive, path=r"^/job/$"),
    route("websocket.receive", consumers.later_receive, path=r"^/later/$"),
    route("websocket.connect", consumers.ordered_connect, path=r"^/ordered/$"),
    route("websocket.receive", consumers.ordered_receive, path=r"^/ordered/$"),
    route("websocket.connect", consumers.session_connect, path=r"^/wsession/$"),
    route("websocket.receive", consumers.session_receive, path=r"^/wsession/$"),
    include("e2eproject.chat.routing.chat_routing", path=r"^/chat"),
    route_class(consumers.Counter, path=r"^/json/$"),
    route_class(consumers.Demultiplexer, path=r"^/multi/$"),
    route("slow.jobs", consumers.slow_job),
]
