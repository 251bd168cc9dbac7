"""The Channels 1.1.8 public names of the HTTP, binding, delay, test and runserver modules import from channels.*."""

from __future__ import annotations

import importlib
import warnings

import pytest

from tests.djangoapp_http import bootstrap

bootstrap.setup()

# module -> {public name in 1.1.8: the worker module that defines it}
NAMES: dict[str, dict[str, str]] = {
    "channels.handler": {
        "AsgiRequest": "worker.request",
        "AsgiHandler": "worker.handler",
        "ViewConsumer": "worker.handler",
    },
    "channels.staticfiles": {"StaticFilesHandler": "worker.staticfiles", "StaticFilesConsumer": "worker.staticfiles"},
    "channels.binding": {"Binding": "worker.binding.base"},
    "channels.binding.base": {
        "Binding": "worker.binding.base",
        "BindingMetaclass": "worker.binding.base",
        "CREATE": "worker.binding.base",
        "UPDATE": "worker.binding.base",
        "DELETE": "worker.binding.base",
    },
    "channels.binding.websockets": {
        "WebsocketBinding": "worker.binding.websockets",
        "WebsocketBindingWithMembers": "worker.binding.websockets",
    },
    "channels.test": {
        "ChannelTestCase": "worker.test.base",
        "TransactionChannelTestCase": "worker.test.base",
        "Client": "worker.test.base",
        "apply_routes": "worker.test.base",
        "WSClient": "worker.test.websocket",
        "HttpClient": "worker.test.http",
        "ChannelLiveServerTestCase": "worker.test.liveserver",
    },
    "channels.test.base": {
        "ChannelTestCaseMixin": "worker.test.base",
        "ChannelTestCase": "worker.test.base",
        "TransactionChannelTestCase": "worker.test.base",
        "Client": "worker.test.base",
        "apply_routes": "worker.test.base",
    },
    "channels.test.websocket": {"WSClient": "worker.test.websocket"},
    "channels.test.http": {"HttpClient": "worker.test.http"},
    "channels.test.liveserver": {
        "ChannelLiveServerTestCase": "worker.test.liveserver",
        "DaphneProcess": "worker.test.liveserver",
        "WorkerProcess": "worker.test.liveserver",
    },
    "channels.delay.models": {"DelayedMessage": "worker.delay.models", "DelayedMessageQuerySet": "worker.delay.models"},
    "channels.delay.apps": {"DelayConfig": "worker.delay.apps"},
    "channels.delay.worker": {"Worker": "worker.delay.server"},
    "channels.delay.management.commands.rundelay": {"Command": "worker.delay.command"},
    "channels.management.commands.runserver": {
        "Command": "worker.management.commands.runserver",
        "WorkerThread": "worker.management.commands.runserver",
    },
}


@pytest.mark.parametrize(("module", "name"), [(m, n) for m, names in NAMES.items() for n in names])
def test_public_name_is_reexported(module, name):
    """Each 1.1.8 public name of these modules imports from channels.* and is the worker object itself."""
    facade = importlib.import_module(module)
    value = getattr(facade, name)
    defining = importlib.import_module(NAMES[module][name])
    original = {"DaphneProcess": "InterfaceServerProcess"}.get(name, name)
    assert value is getattr(defining, original)


def test_deprecated_channels_tests_reexports():
    """channels.tests (deprecated) still offers the 1.1.8 helpers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module("channels.tests")
    for name in ("ChannelTestCase", "TransactionChannelTestCase", "Client", "WSClient", "HttpClient", "apply_routes"):
        assert getattr(module, name) is getattr(importlib.import_module("channels.test"), name)


def test_request_and_handler_attributes():
    """The class attributes 1.1.8 code overrides are there with 1.1.8's values."""
    from channels.exceptions import ResponseLater
    from channels.handler import AsgiHandler, AsgiRequest, ViewConsumer

    assert AsgiRequest.ResponseLater is ResponseLater
    assert AsgiRequest.body_receive_timeout == 60
    assert AsgiHandler.chunk_size == 512 * 1024
    assert AsgiHandler.request_class is AsgiRequest
    assert ViewConsumer.handler_class is AsgiHandler


def test_delay_app_label_and_table():
    """channels.delay installs with a valid label and keeps 1.1.8's table name."""
    from django.apps import apps

    from channels.delay.models import DelayedMessage

    assert apps.get_app_config("channels_delay").name == "channels.delay"
    assert DelayedMessage._meta.db_table == "channels.delay_delayedmessage"


def test_staticfiles_runserver_patch():
    """patch_staticfiles_runserver makes staticfiles' runserver command the channels one (1.1.8's app-ready hack)."""
    from django.contrib.staticfiles.management.commands import runserver as staticfiles_runserver
    from django.core.management import load_command_class

    from worker.management.commands.runserver import Command, patch_staticfiles_runserver

    original = staticfiles_runserver.Command
    try:
        patch_staticfiles_runserver()
        assert isinstance(load_command_class("django.contrib.staticfiles", "runserver"), Command)
    finally:
        staticfiles_runserver.Command = original
