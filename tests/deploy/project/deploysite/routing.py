"""WebSocket echo and whoami on the default pool; ``reports.render`` on a pool of its own."""

from channels.routing import route

from . import consumers

channel_routing = [
    route("websocket.connect", consumers.whoami_connect, path=r"^/whoami/$"),
    route("websocket.receive", consumers.echo_receive, path=r"^/echo/$"),
    route("websocket.receive", consumers.job_receive, path=r"^/job/$"),
    route("reports.render", consumers.background_job),
]
