"""The ``daphne`` / ``interfaceserver`` command: parse options into a :class:`Config`, then serve.

A drop-in for Daphne 1.4.2's command line (reference §4.1): the same positional
``module.path:attr`` and the same options, spellings and defaults, plus the limits a production
server needs. This module only parses and forwards; :func:`serve` runs the server through
:class:`~interfaceserver.embedded.EmbeddedServer`.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from typing import IO, Any

import click

from .config import Config, build_endpoints
from .embedded import AccessLog, EmbeddedServer

__all__ = ["build_config", "load_layer", "main", "open_access_log", "serve"]

logger = logging.getLogger("interfaceserver")


def _split_protocols(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for value in values for p in value.replace(",", " ").split())


def build_config(params: dict[str, Any]) -> Config:
    """The Config for parsed click ``params`` (ValueError for a bad combination)."""
    layer_config = json.loads(params["layer_config"]) if params["layer_config"] else {}
    if not isinstance(layer_config, dict):
        raise ValueError("--layer-config must be a JSON object")
    return Config(
        channel_layer=params["channel_layer"] or "",
        layer=params["layer"],
        layer_config=tuple(sorted(layer_config.items())),
        endpoints=build_endpoints(
            params["host"], params["port"], params["unix_socket"], params["file_descriptor"], params["socket_strings"]
        ),
        http_timeout=params["http_timeout"],
        websocket_timeout=params["websocket_timeout"],
        websocket_connect_timeout=params["websocket_connect_timeout"],
        websocket_handshake_timeout=params["websocket_handshake_timeout"],
        ping_interval=params["ping_interval"],
        ping_timeout=params["ping_timeout"],
        ws_protocols=_split_protocols(params["ws_protocols"]),
        root_path=params["root_path"],
        proxy_headers=params["proxy_headers"],
        force_sync=params["force_sync"],
        verbosity=params["verbosity"],
        access_log=params["access_log"],
        proxy_trusted=_split_protocols(params["proxy_trusted"]) or Config.proxy_trusted,
        max_request_body=params["max_request_body"],
        max_header_size=params["max_header_size"],
        max_headers=params["max_headers"],
        header_timeout=params["header_timeout"],
        max_ws_message=params["max_ws_message"],
        body_stream_threshold=params["body_stream_threshold"],
        write_buffer_limit=params["write_buffer_limit"],
        drain_timeout=params["drain_timeout"],
        backlog=params["backlog"],
        max_buffered_body=params["max_buffered_body"],
        metrics_port=params["metrics_port"],
        metrics_bind=params["metrics_bind"],
        heartbeat_interval=params["heartbeat_interval"],
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("channel_layer", required=False)
@click.option("-p", "--port", type=int, default=None, help="Port number to listen on (host defaults to 127.0.0.1).")
@click.option("-b", "--bind", "host", default=None, help="The host/address to bind to (port defaults to 8000).")
@click.option("-u", "--unix-socket", default=None, help="Bind to a UNIX socket rather than a TCP host/port.")
@click.option(
    "--fd",
    "file_descriptor",
    type=int,
    default=None,
    help="Listen on an inherited, already listening socket (TCP or UNIX) with this file descriptor.",
)
@click.option(
    "-e",
    "--endpoint",
    "socket_strings",
    multiple=True,
    help="Twisted endpoint string to listen on, e.g. tcp:8000, unix:/run/d.sock, "
    "ssl:443:privateKey=key.pem:certKey=crt.pem. Repeatable.",
)
@click.option(
    "--websocket_timeout",
    "--websocket-timeout",
    "websocket_timeout",
    type=float,
    default=None,
    help="Maximum seconds a WebSocket may stay open (default: the layer's group_expiry; -1: no limit).",
)
@click.option(
    "--websocket_connect_timeout",
    "--websocket-connect-timeout",
    "websocket_connect_timeout",
    type=float,
    default=5,
    show_default=True,
    help="Seconds the application has to accept a WebSocket before it gets 403 (-1: no limit).",
)
@click.option(
    "--websocket_handshake_timeout",
    "--websocket-handshake-timeout",
    "websocket_handshake_timeout",
    type=float,
    default=5,
    show_default=True,
    help="Seconds from the upgrade request to the completed handshake before the socket is dropped (-1: no limit).",
)
@click.option(
    "-t",
    "--http-timeout",
    type=float,
    default=120,
    show_default=True,
    help="Seconds a request may wait for its response to start before it gets 503 (-1: no limit).",
)
@click.option("--access-log", default=None, help="Where to write the access log: '-' for stdout, or a file path.")
@click.option(
    "--ping-interval",
    type=float,
    default=20,
    show_default=True,
    help="Seconds a WebSocket may be silent before the server pings it.",
)
@click.option(
    "--ping-timeout",
    type=float,
    default=30,
    show_default=True,
    help="Seconds to wait for a pong before dropping the WebSocket.",
)
@click.option(
    "--ws-protocol",
    "ws_protocols",
    multiple=True,
    help="A WebSocket subprotocol the server accepts (repeatable, or space/comma separated).",
)
@click.option("--root-path", default="", help="The root_path of HTTP requests (a Daphne-Root-Path header wins).")
@click.option(
    "--proxy-headers",
    is_flag=True,
    default=False,
    help="Use X-Forwarded-For/-Port/-Proto for client address and scheme (from --proxy-trusted peers).",
)
@click.option(
    "--force-sync",
    is_flag=True,
    default=False,
    help="Accepted for compatibility and ignored: replies are always read without polling.",
)
@click.option(
    "-v",
    "--verbosity",
    type=click.IntRange(0, 3),
    default=1,
    show_default=True,
    help="0 warnings, 1 info, 2 debug (and Twisted's log).",
)
@click.option(
    "--proxy-trusted",
    multiple=True,
    help="Peer address or network whose proxy headers are believed; '*' for any, 'unix' for UNIX "
    "sockets. Repeatable. Default: 127.0.0.1, ::1 and unix.",
)
@click.option(
    "--max-request-body",
    type=int,
    default=Config.max_request_body,
    show_default=True,
    help="Largest request body in bytes (413 above it).",
)
@click.option(
    "--max-header-size",
    type=int,
    default=Config.max_header_size,
    show_default=True,
    help="Largest request line plus headers in bytes (431 above it).",
)
@click.option(
    "--max-headers",
    type=int,
    default=Config.max_headers,
    show_default=True,
    help="Most request header lines (431 above it).",
)
@click.option(
    "--header-timeout",
    type=float,
    default=Config.header_timeout,
    show_default=True,
    help="Seconds to receive a request head (408); also the keep-alive idle time.",
)
@click.option(
    "--max-ws-message",
    type=int,
    default=Config.max_ws_message,
    show_default=True,
    help="Largest incoming WebSocket message in bytes (close 1009 above it).",
)
@click.option(
    "--body-stream-threshold",
    type=int,
    default=Config.body_stream_threshold,
    show_default=True,
    help="Request bodies above this many bytes are streamed over a body_channel in chunks this big.",
)
@click.option(
    "--write-buffer-limit",
    type=int,
    default=Config.write_buffer_limit,
    show_default=True,
    help="Bytes queued for a slow-reading client before it is dropped.",
)
@click.option(
    "--drain-timeout",
    type=float,
    default=Config.drain_timeout,
    show_default=True,
    help="Seconds in-flight HTTP responses get to finish after SIGTERM/SIGINT.",
)
@click.option(
    "--backlog",
    type=int,
    default=Config.backlog,
    show_default=True,
    help="Listen queue length of every listening socket (capped by the kernel's net.core.somaxconn).",
)
@click.option(
    "--max-buffered-body",
    type=int,
    default=Config.max_buffered_body,
    show_default=True,
    help="Request-body bytes all connections together may hold in memory; past it a request gets 503.",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve Prometheus /metrics and /healthz on this port (never on the application's port).",
)
@click.option(
    "--metrics-bind",
    default=Config.metrics_bind,
    show_default=True,
    help="Address the --metrics-port endpoint listens on.",
)
@click.option(
    "--heartbeat-interval",
    type=float,
    default=Config.heartbeat_interval,
    show_default=True,
    help="Seconds between announcements of this server on the channel layer (status view).",
)
@click.option(
    "--layer",
    default=None,
    help="Channel layer backend name (redis, sqlite, memory, asgi_redis.RedisChannelLayer, ...) "
    "instead of the module.path:attr argument.",
)
@click.option("--layer-config", default=None, help="JSON object of options for --layer.")
def main(**params: Any) -> None:
    """Serve HTTP and WebSocket for Channels 1 workers; CHANNEL_LAYER is module.path:attr of a channel layer."""
    if not params["channel_layer"] and not params["layer"]:
        raise click.UsageError("Missing argument 'CHANNEL_LAYER' (module.path:attr), or give --layer")
    try:
        config = build_config(params)
    except (ValueError, json.JSONDecodeError) as exc:
        raise click.UsageError(str(exc)) from exc
    serve(config)


def load_layer(config: Config) -> Any:
    """The channel layer object named by ``config`` (``module:attr.attr`` imported with "." on sys.path)."""
    if config.layer:
        from channellayer import get_channel_layer

        return get_channel_layer(config.layer, dict(config.layer_config))
    module_name, _, attrs = config.channel_layer.partition(":")
    if not attrs:
        raise click.UsageError(f"{config.channel_layer!r} must be module.path:attr (e.g. project.asgi:channel_layer)")
    sys.path.insert(0, ".")
    try:
        value: Any = importlib.import_module(module_name)
        for attr in attrs.split("."):
            value = getattr(value, attr)
    except (ImportError, AttributeError) as exc:
        raise click.UsageError(f"cannot load the channel layer {config.channel_layer!r}: {exc}") from exc
    return value


def _setup_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)-15s %(levelname)-8s %(message)s", stream=sys.stderr)
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        STDLibLogObserver,
        globalLogBeginner,
    )

    # Twisted's own log goes to the stdlib logger: errors always, everything at verbosity >= 2.
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.debug if verbosity >= 2 else LogLevel.error)
    observer: Any = FilteringLogObserver(STDLibLogObserver(), [predicate])  # type: ignore[arg-type,list-item]
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def open_access_log(config: Config) -> IO[str] | None:
    """Daphne's rule: ``-`` is stdout, a path is appended to line by line, unset means stdout at verbosity >= 1."""
    if config.access_log == "-" or (config.access_log is None and config.verbosity >= 1):
        return sys.stdout
    if config.access_log:
        return open(config.access_log, "a", buffering=1, encoding="utf8")
    return None


def serve(config: Config) -> None:
    """Run an interface server for ``config`` in this thread until SIGTERM/SIGINT, then exit."""
    _setup_logging(config.verbosity)
    layer = load_layer(config)
    if config.force_sync:
        logger.info("--force-sync is accepted for compatibility and has no effect")
    stream = open_access_log(config)
    server = EmbeddedServer(config, layer, AccessLog(stream) if stream is not None else None)
    try:
        exit_code = server.run()
    except ValueError as exc:  # a malformed endpoint string
        raise click.UsageError(str(exc)) from exc
    if server.error is not None:
        logger.critical("Could not listen: %s", server.error)
    sys.exit(exit_code)
