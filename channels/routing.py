"""``channels.routing`` (from ``worker.routing``)."""

from worker.routing import (
    Include,
    Route,
    RouteClass,
    Router,
    connect_consumer,
    include,
    null_consumer,
    route,
    route_class,
)

__all__ = [
    "Include",
    "Route",
    "RouteClass",
    "Router",
    "connect_consumer",
    "include",
    "null_consumer",
    "route",
    "route_class",
]
