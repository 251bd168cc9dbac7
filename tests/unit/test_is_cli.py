"""The daphne command line: every option reaches the frozen Config (CliRunner, no server started)."""

from __future__ import annotations

import dataclasses

import click
import pytest
from click.testing import CliRunner

from interfaceserver import cli
from interfaceserver.config import Config, build_endpoints


@pytest.fixture
def run(monkeypatch):
    captured = {}
    monkeypatch.setattr(cli, "serve", lambda config: captured.setdefault("config", config))

    def invoke(*args: str):
        result = CliRunner().invoke(cli.main, list(args))
        return result, captured.get("config")

    return invoke


def test_defaults_are_daphne_142(run):
    """With only the layer path, every Daphne option has its 1.4.2 default."""
    result, config = run("project.asgi:channel_layer")
    assert result.exit_code == 0, result.output
    assert config == Config(channel_layer="project.asgi:channel_layer")
    assert config.endpoints == ("tcp:port=8000:interface=127.0.0.1",)
    assert (config.http_timeout, config.websocket_connect_timeout, config.ping_interval, config.ping_timeout) == (
        120,
        5,
        20,
        30,
    )
    assert config.websocket_timeout is None and config.root_path == "" and config.verbosity == 1
    assert not config.proxy_headers and not config.force_sync and config.access_log is None


def test_every_option_reaches_config(run):
    """Each command-line option ends up in its Config field."""
    result, config = run(
        "-b",
        "0.0.0.0",
        "-p",
        "9000",
        "-u",
        "/tmp/d.sock",
        "--fd",
        "3",
        "-e",
        "ssl:443:privateKey=k:certKey=c",
        "--websocket_timeout",
        "600",
        "--websocket_connect_timeout",
        "-1",
        "--websocket_handshake_timeout",
        "7",
        "-t",
        "30",
        "--access-log",
        "/tmp/access.log",
        "--ping-interval",
        "11",
        "--ping-timeout",
        "12",
        "--ws-protocol",
        "graphql-ws",
        "--ws-protocol",
        "a b,c",
        "--root-path",
        "/app",
        "--proxy-headers",
        "--force-sync",
        "-v",
        "2",
        "--proxy-trusted",
        "10.0.0.0/8",
        "--max-request-body",
        "1000",
        "--max-header-size",
        "2000",
        "--max-headers",
        "30",
        "--header-timeout",
        "4",
        "--max-ws-message",
        "5000",
        "--body-stream-threshold",
        "600",
        "--write-buffer-limit",
        "70000",
        "--drain-timeout",
        "9",
        "--backlog",
        "100",
        "--max-buffered-body",
        "80000",
        "--metrics-port",
        "9100",
        "--metrics-bind",
        "0.0.0.0",
        "--heartbeat-interval",
        "2.5",
        "project.asgi:channel_layer",
    )
    assert result.exit_code == 0, result.output
    assert config == Config(
        channel_layer="project.asgi:channel_layer",
        endpoints=(
            "fd:fileno=3",
            "ssl:443:privateKey=k:certKey=c",
            "tcp:port=9000:interface=0.0.0.0",
            "unix:/tmp/d.sock",
        ),
        http_timeout=30,
        websocket_timeout=600,
        websocket_connect_timeout=-1,
        websocket_handshake_timeout=7,
        ping_interval=11,
        ping_timeout=12,
        ws_protocols=("graphql-ws", "a", "b", "c"),
        root_path="/app",
        proxy_headers=True,
        force_sync=True,
        verbosity=2,
        access_log="/tmp/access.log",
        proxy_trusted=("10.0.0.0/8",),
        max_request_body=1000,
        max_header_size=2000,
        max_headers=30,
        header_timeout=4,
        max_ws_message=5000,
        body_stream_threshold=600,
        write_buffer_limit=70000,
        drain_timeout=9,
        backlog=100,
        max_buffered_body=80000,
        metrics_port=9100,
        metrics_bind="0.0.0.0",
        heartbeat_interval=2.5,
    )
    # Every field except the --layer pair was set to a non-default value above.
    changed = {f.name for f in dataclasses.fields(Config) if getattr(config, f.name) != f.default}
    assert changed == {f.name for f in dataclasses.fields(Config)} - {"layer", "layer_config"}


def test_hyphenated_aliases(run):
    """--websocket-timeout and friends are accepted besides Daphne's underscore spellings."""
    _, config = run("--websocket-timeout", "-1", "--websocket-connect-timeout", "3", "x:y")
    assert config.websocket_timeout == -1 and config.websocket_connect_timeout == 3


def test_layer_backend_option(run):
    """--layer/--layer-config replace the positional layer path."""
    result, config = run("--layer", "redis", "--layer-config", '{"hosts": ["redis://h:1/0"]}')
    assert result.exit_code == 0, result.output
    assert config.layer == "redis" and dict(config.layer_config) == {"hosts": ["redis://h:1/0"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Missing argument 'CHANNEL_LAYER'"),
        (("--layer", "redis", "--layer-config", "[1]"), "--layer-config must be a JSON object"),
        (("--body-stream-threshold", "2000000", "x:y"), "body_stream_threshold must stay below"),
        (("--max-headers", "0", "x:y"), "max_headers must be positive"),
        (("--backlog", "0", "x:y"), "backlog must be positive"),
        (("--max-buffered-body", "-1", "x:y"), "max_buffered_body must be positive"),
        (("-v", "5", "x:y"), "Invalid value for '-v'"),
        (("--metrics-port", "70000", "x:y"), "metrics_port must be a TCP port (0-65535), not 70000"),
        (("--heartbeat-interval", "0", "x:y"), "heartbeat_interval must be positive, not 0"),
    ],
)
def test_usage_errors(run, args, message):
    """Bad command lines exit with status 2 and say what is wrong."""
    result, config = run(*args)
    assert result.exit_code == 2 and config is None
    assert message in result.output


def test_connect_timeout_minus_one_means_no_limit():
    """-1 is 'no limit' (Daphne 1.4.2 rejected every socket); websocket_timeout None/0 falls back to group_expiry."""
    assert Config.limit(-1) is None and Config.limit(5) == 5
    config = Config(channel_layer="x:y")
    assert config.effective_websocket_timeout(86400) == 86400
    assert dataclasses.replace(config, websocket_timeout=0).effective_websocket_timeout(100) == 100
    assert dataclasses.replace(config, websocket_timeout=-1).effective_websocket_timeout(100) is None


@pytest.mark.parametrize(
    ("kwargs", "endpoints"),
    [
        ({}, ("tcp:port=8000:interface=127.0.0.1",)),
        ({"port": 9000}, ("tcp:port=9000:interface=127.0.0.1",)),
        ({"host": "::1"}, (r"tcp:port=8000:interface=\:\:1",)),
        ({"host": "[::1]", "port": 1}, (r"tcp:port=1:interface=\:\:1",)),
        ({"unix_socket": "/s"}, ("unix:/s",)),
        ({"file_descriptor": 0}, ("fd:fileno=0",)),
        ({"endpoints": ["tcp:2", "ssl:1"]}, ("ssl:1", "tcp:2")),
    ],
)
def test_build_endpoints(kwargs, endpoints):
    """Endpoint strings follow Daphne's rules: defaults, IPv6 escaping, unix/fd, sorted."""
    assert build_endpoints(**kwargs) == endpoints


def test_load_layer_walks_attributes(tmp_path, monkeypatch):
    """The positional module:attr.attr is imported with the working directory on sys.path."""
    (tmp_path / "myproject_asgi.py").write_text("class Holder:\n    layer = 'the layer'\n")
    monkeypatch.chdir(tmp_path)
    assert cli.load_layer(Config(channel_layer="myproject_asgi:Holder.layer")) == "the layer"


def test_unloadable_layer_is_a_usage_error():
    """A module or attribute that does not exist is reported as a usage error naming it."""
    with pytest.raises(click.UsageError, match="cannot load the channel layer 'no_such_module_xyz:layer'"):
        cli.load_layer(Config(channel_layer="no_such_module_xyz:layer"))


@pytest.mark.parametrize(
    ("description", "error"),
    [("bogus:1", "invalid endpoint 'bogus:1'"), ("fd:x", "expected fd:fileno=N")],
)
def test_bad_endpoint_strings(description, error):
    """Malformed endpoint strings raise ValueError naming the string (the CLI turns it into a usage error)."""
    from twisted.internet.testing import MemoryReactor

    from interfaceserver.endpoints import endpoint_from_string

    with pytest.raises(ValueError, match=error):
        endpoint_from_string(MemoryReactor(), description)


def test_fd_endpoint_parsing():
    """fd:fileno=N and fd:N both name descriptor N."""
    from twisted.internet.testing import MemoryReactor

    from interfaceserver.endpoints import endpoint_from_string

    assert endpoint_from_string(MemoryReactor(), "fd:fileno=7").fileno == 7
    assert endpoint_from_string(MemoryReactor(), "fd:9").fileno == 9
