"""CHANNEL_LAYERS → channel_layers[alias]: backend resolution, errors, the wrapper (reference §5.1)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from channellayer import MemoryChannelLayer, RedisChannelLayer
from tests.djangoapp import ensure_django

ensure_django()

from worker.asgi import ChannelLayerManager, ChannelLayerWrapper, InvalidChannelLayerError, get_channel_layer  # noqa: E402
from worker.routing import route  # noqa: E402

ROUTES = [route("custom.a", print)]


def layers(**aliases):
    return override_settings(CHANNEL_LAYERS=aliases)


def test_legacy_backend_strings_build_our_layers_with_config():
    """asgi_redis.RedisChannelLayer and asgiref.inmemory.ChannelLayer resolve to our backends, CONFIG applied."""
    with layers(
        default={
            "BACKEND": "asgi_redis.RedisChannelLayer",
            "ROUTING": ROUTES,
            "CONFIG": {"hosts": [("127.0.0.1", 1)], "prefix": "p:", "capacity": 7},
        },
        mem={"BACKEND": "asgiref.inmemory.ChannelLayer", "ROUTING": "tests.unit.test_worker_asgi.ROUTES"},
    ):
        manager = ChannelLayerManager()
        redis = manager["default"]
        assert isinstance(redis.channel_layer, RedisChannelLayer) and redis.capacity == 7 and redis.prefix == "p:"
        assert not redis.local_only()
        mem = manager["mem"]
        assert isinstance(mem.channel_layer, MemoryChannelLayer) and mem.local_only()
        assert mem.router.channels == {"custom.a"} and mem.alias == "mem"
        assert mem.routing == "tests.unit.test_worker_asgi.ROUTES"
        assert manager["mem"] is mem and "mem" in manager and "nope" not in manager


@pytest.mark.parametrize(
    "config, message",
    [
        ({"ROUTING": []}, "No BACKEND specified for default"),
        ({"BACKEND": "memory"}, "No ROUTING specified for default"),
        ({"BACKEND": "no_such_module.Layer", "ROUTING": []}, "Cannot import BACKEND 'no_such_module.Layer'"),
        ({"BACKEND": "redis", "ROUTING": [], "CONFIG": {"bogus": 1}}, "Cannot build BACKEND 'redis'"),
    ],
)
def test_bad_entries_raise_invalid_channel_layer_error(config, message):
    """A missing BACKEND/ROUTING, an unimportable or unbuildable BACKEND: InvalidChannelLayerError."""
    with layers(default=config), pytest.raises(InvalidChannelLayerError, match=message):
        ChannelLayerManager()["default"]
    assert issubclass(InvalidChannelLayerError, ValueError)


def test_unknown_alias_names_the_configured_ones():
    """An alias not in CHANNEL_LAYERS raises InvalidChannelLayerError listing the configured aliases."""
    with layers(default={"BACKEND": "memory", "ROUTING": []}):
        with pytest.raises(InvalidChannelLayerError, match=r"No channel layer named 'x' .*\['default'\]"):
            ChannelLayerManager()["x"]


def test_wrapper_proxies_the_raw_layer_and_set_swaps():
    """The wrapper forwards unknown attributes to the raw layer; set() swaps and returns the old one."""
    raw = MemoryChannelLayer()
    wrapper = ChannelLayerWrapper(raw, "default", [])
    wrapper.send("a", {"x": 1})
    assert raw.receive(["a"]) == ("a", {"x": 1})
    assert wrapper.ChannelFull is raw.ChannelFull and str(wrapper) == "default (channellayer.memory.MemoryChannelLayer)"
    manager = ChannelLayerManager()
    assert manager.set("default", wrapper) is None and manager["default"] is wrapper
    assert manager.set("default", None) is wrapper and manager.backends == {}


def test_get_channel_layer_returns_the_raw_layer():
    """get_channel_layer() (used in asgi.py) returns the raw layer, not the wrapper."""
    from worker.asgi import channel_layers

    raw = MemoryChannelLayer()
    old = channel_layers.set("default", ChannelLayerWrapper(raw, "default", []))
    try:
        assert get_channel_layer() is raw
    finally:
        channel_layers.set("default", old)
