"""The channels facade: every Channels 1.1.8 public name of the worker-core modules imports from channels.*."""

from __future__ import annotations

import importlib

import pytest

from tests.djangoapp import ensure_django

ensure_django()

# Public names of Channels 1.1.8 (module -> names), for the modules this facade part covers.
PUBLIC_1_1_8 = {
    "channels": [
        "Channel",
        "Group",
        "channel_layers",
        "DEFAULT_CHANNEL_LAYER",
        "route",
        "route_class",
        "include",
        "default_app_config",
        "__version__",
    ],
    "channels.apps": ["ChannelsConfig"],
    "channels.asgi": [
        "ChannelLayerManager",
        "ChannelLayerWrapper",
        "InvalidChannelLayerError",
        "channel_layers",
        "get_channel_layer",
    ],
    "channels.routing": [
        "Router",
        "Route",
        "RouteClass",
        "Include",
        "route",
        "route_class",
        "include",
        "null_consumer",
        "connect_consumer",
    ],
    "channels.message": ["Message", "PendingMessageStore", "pending_message_store"],
    "channels.channel": ["Channel", "Group"],
    "channels.exceptions": [
        "ConsumeLater",
        "ResponseLater",
        "RequestTimeout",
        "RequestAborted",
        "DenyConnection",
        "ChannelSocketException",
        "WebsocketCloseException",
        "SendNotAvailableOnDemultiplexer",
    ],
    "channels.signals": ["consumer_started", "consumer_finished", "worker_ready", "worker_process_ready"],
    "channels.sessions": [
        "session_for_reply_channel",
        "channel_session",
        "wait_channel_name",
        "requeue_messages",
        "enforce_ordering",
        "http_session",
        "channel_and_http_session",
    ],
    "channels.auth": [
        "transfer_user",
        "channel_session_user",
        "http_session_user",
        "channel_session_user_from_http",
        "channel_and_http_session_user_from_http",
    ],
    "channels.worker": ["Worker", "WorkerGroup"],
    "channels.log": ["setup_logger", "handler"],
    "channels.utils": ["name_that_thing"],
    "channels.generic": ["BaseConsumer"],
    "channels.generic.base": ["BaseConsumer"],
    "channels.generic.websockets": [
        "WebsocketConsumer",
        "JsonWebsocketConsumer",
        "WebsocketMultiplexer",
        "WebsocketDemultiplexer",
    ],
    "channels.security.websockets": ["BaseOriginValidator", "AllowedHostsOnlyOriginValidator", "allowed_hosts_only"],
    "channels.management.commands.runworker": ["Command"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC_1_1_8))
def test_every_public_name_imports_from_channels(module):
    """Each 1.1.8 public name of this module exists under the same channels.* path."""
    mod = importlib.import_module(module)
    missing = [name for name in PUBLIC_1_1_8[module] if not hasattr(mod, name)]
    assert missing == []


@pytest.mark.parametrize("module", sorted(m for m in PUBLIC_1_1_8 if m not in ("channels", "channels.security")))
def test_facade_module_holds_no_logic(module):
    """A facade module only re-exports: every public object it has is defined in worker.*."""
    mod = importlib.import_module(module)
    for name in PUBLIC_1_1_8[module]:
        obj = getattr(mod, name)
        origin = getattr(obj, "__module__", None)
        if origin is not None and callable(obj):
            assert origin.startswith(("worker.", "django.")), f"{module}.{name} is defined in {origin}"


def test_app_config_label_and_same_objects():
    """INSTALLED_APPS "channels" gives app label "channels"; facade objects are the worker objects."""
    from django.apps import apps

    import channels
    import worker.channel

    assert apps.get_app_config("channels").name == "channels"
    assert channels.Channel is worker.channel.Channel
    assert channels.DEFAULT_CHANNEL_LAYER == "default"
