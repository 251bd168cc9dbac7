"""runserver's option parsing and forwarding to the interface server, consumer choice, and console log lines."""

from __future__ import annotations

import re

from tests.djangoapp_http import bootstrap

bootstrap.setup()

from django.core.management.color import no_style  # noqa: E402
from django.test import override_settings  # noqa: E402

from worker.devserver import ActionLog, DevServer  # noqa: E402
from worker.handler import ViewConsumer  # noqa: E402
from worker.management.commands.runserver import Command  # noqa: E402
from worker.staticfiles import StaticFilesConsumer  # noqa: E402


def parse(*argv: str) -> dict:
    return vars(Command().create_parser("manage.py", "runserver").parse_args(list(argv)))


def test_options_and_defaults():
    """The 1.1.8 options exist with 1.1.8's defaults (http_timeout 60, handshake 5), plus staticfiles' flags."""
    options = parse()
    assert (options["run_worker"], options["use_asgi"]) == (True, True)
    assert (options["http_timeout"], options["websocket_handshake_timeout"]) == (60, 5)
    assert (options["use_static_handler"], options["insecure_serving"]) == (True, False)
    options = parse(
        "--noworker",
        "--noasgi",
        "--http_timeout",
        "7",
        "--websocket_handshake_timeout",
        "3",
        "--nostatic",
        "--insecure",
    )
    assert (options["run_worker"], options["use_asgi"], options["use_static_handler"]) == (False, False, False)
    assert (options["http_timeout"], options["websocket_handshake_timeout"], options["insecure_serving"]) == (
        7,
        3,
        True,
    )


@override_settings(CHANNELS_WS_PROTOCOLS=["graphql-ws", "chat"], FORCE_SCRIPT_NAME="/prefix")
def test_forwarding_to_interface_server_config():
    """server_cls gets 1.1.8's Daphne keywords; address, timeouts, protocols and script name reach the Config."""
    command = Command()
    command.addr, command.port, command.verbosity = "0.0.0.0", "8123", 1
    command.http_timeout, command.websocket_handshake_timeout = 7.0, 3.0
    kwargs = command.server_kwargs({"use_reloader": False})
    assert sorted(kwargs) == sorted(
        [
            "channel_layer",
            "endpoints",
            "signal_handlers",
            "action_logger",
            "http_timeout",
            "ws_protocols",
            "root_path",
            "websocket_handshake_timeout",
        ]
    )
    assert kwargs["endpoints"] == ["tcp:port=8123:interface=0.0.0.0"] and kwargs["signal_handlers"] is True
    assert Command.server_cls is DevServer
    config = DevServer(**kwargs).config
    assert config.endpoints == ("tcp:port=8123:interface=0.0.0.0",)
    assert (config.http_timeout, config.websocket_handshake_timeout) == (7.0, 3.0)
    assert config.ws_protocols == ("graphql-ws", "chat")
    assert config.root_path == "/prefix"


def test_consumer_choice():
    """Static files are served (StaticFilesConsumer) under DEBUG or --insecure, unless --nostatic."""
    command = Command()
    with override_settings(DEBUG=True):
        assert isinstance(command.get_consumer(use_static_handler=True), StaticFilesConsumer)
        assert type(command.get_consumer(use_static_handler=False)) is ViewConsumer
    with override_settings(DEBUG=False):
        assert type(command.get_consumer(use_static_handler=True)) is ViewConsumer
        assert isinstance(command.get_consumer(use_static_handler=True, insecure_serving=True), StaticFilesConsumer)


def test_console_log_format(capsys):
    """Access lines follow 1.1.8's runserver format for HTTP and WebSocket events."""
    command = Command()
    command.style = no_style()
    log = ActionLog(command.log_action)
    log.http(["127.0.0.1", 5000], "GET", "/path/?q=1", 200, 12, 0.0123)
    log.http(["127.0.0.1", 5000], "GET", "/path/", 404, 12)
    log.websocket(["127.0.0.1", 5001], "CONNECTING", "/ws/")
    log.websocket(["127.0.0.1", 5001], "DISCONNECT", "/ws/")
    lines = capsys.readouterr().err.splitlines()
    stamp = r"^\[\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\] "
    assert re.match(stamp + r"HTTP GET /path/\?q=1 200 \[0\.01, 127\.0\.0\.1:5000\]$", lines[0])
    assert re.match(stamp + r"HTTP GET /path/ 404 \[127\.0\.0\.1:5000\]$", lines[1])
    assert re.match(stamp + r"WebSocket HANDSHAKING /ws/ \[127\.0\.0\.1:5001\]$", lines[2])
    assert re.match(stamp + r"WebSocket DISCONNECT /ws/ \[127\.0\.0\.1:5001\]$", lines[3])


def test_action_log_feeds_daphne_action_logger():
    """The access-log hook calls action_logger as Daphne 1.4.2 did: ("http", "complete", details), WS verbs."""
    calls = []
    log = ActionLog(lambda protocol, action, details: calls.append((protocol, action, details)))
    log.http(["10.0.0.1", 4000], "POST", "/form/", 302, 0, 0.5)
    log.websocket(["10.0.0.1", 4001], "REJECT", "/ws/")
    log.websocket(None, "CONNECT", "/ws/")
    assert calls == [
        (
            "http",
            "complete",
            {
                "method": "POST",
                "path": "/form/",
                "status": 302,
                "client": "10.0.0.1:4000",
                "time_taken": 0.5,
                "size": 0,
            },
        ),
        ("websocket", "rejected", {"path": "/ws/", "client": "10.0.0.1:4001"}),
        ("websocket", "connected", {"path": "/ws/", "client": None}),
    ]
