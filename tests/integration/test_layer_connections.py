"""Every way asgi_redis let users name a Redis: tuples, redis:// with a password and db, unix://, rediss:// (TLS)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from channellayer import BackendUnavailable, get_channel_layer
from tests.support.processes import RedisServer
from tests.support.tls import make_self_signed

pytestmark = pytest.mark.redis


def round_trip(layer: object) -> None:
    layer.send("conn!a", {"ok": b"yes"})  # type: ignore[attr-defined]
    assert layer.receive(["conn!"]) == ("conn!a", {"ok": b"yes"})  # type: ignore[attr-defined]

    async def via_async() -> None:
        await layer.send_async("conn!b", {"n": 1})  # type: ignore[attr-defined]
        assert await layer.receive_async(["conn!"]) == ("conn!b", {"n": 1})  # type: ignore[attr-defined]
        await layer.aclose()  # type: ignore[attr-defined]

    asyncio.run(via_async())
    layer.close()  # type: ignore[attr-defined]


def test_password_and_database_in_url() -> None:
    """redis://:password@host:port/db reaches that database with that password; a wrong one is BackendUnavailable."""
    server = RedisServer(extra=["--requirepass", "s3cret"])
    try:
        round_trip(get_channel_layer("redis", {"hosts": [f"redis://:s3cret@127.0.0.1:{server.port}/4"]}))
        layer = get_channel_layer("redis", {"hosts": [f"redis://:s3cret@127.0.0.1:{server.port}/4"]})
        layer.send("db4", {})
        import redis as redis_py

        raw = redis_py.Redis(port=server.port, password="s3cret", db=4)
        assert raw.llen("asgi:db4") == 1
        layer.close()
        wrong = get_channel_layer("redis", {"hosts": [f"redis://:wrong@127.0.0.1:{server.port}/0"]})
        with pytest.raises(BackendUnavailable, match="invalid username-password pair") as info:
            wrong.send("x", {})
        assert "wrong" not in str(info.value) and f"redis://:***@127.0.0.1:{server.port}/0" in str(info.value)
    finally:
        server.stop()


def test_unix_socket_url(tmp_path: Path) -> None:
    """unix:///path/to/redis.sock works as a host."""
    sock = tmp_path / "redis.sock"
    server = RedisServer(extra=["--unixsocket", str(sock), "--unixsocketperm", "700"])
    try:
        round_trip(get_channel_layer("redis", {"hosts": [f"unix://{sock}?db=2"]}))
    finally:
        server.stop()


def test_tls_url(tmp_path: Path) -> None:
    """rediss:// connects over TLS, verifying the server against the given CA."""
    cert, key = make_self_signed(tmp_path)
    server = RedisServer(
        extra=[
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(cert),
            "--tls-auth-clients",
            "no",
        ],
        second_port="--tls-port",
    )
    tls_port = server.second_port
    try:
        round_trip(
            get_channel_layer(
                "redis",
                {"hosts": [f"rediss://127.0.0.1:{tls_port}/0"], "connection_kwargs": {"ssl_ca_certs": str(cert)}},
            )
        )
        unverified = get_channel_layer("redis", {"hosts": [f"rediss://127.0.0.1:{tls_port}/0"]})
        with pytest.raises(BackendUnavailable, match="(?i)certificate"):
            unverified.send("x", {})
    finally:
        server.stop()
