"""docs/settings.md lists every channel-layer option, every daphne option and every management-command option
with its default; this test fails when one is missing or its default is wrong."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


REQUIRED = object()


def render(value: Any) -> str:
    """How a default is written in the doc's default column."""
    if value is REQUIRED:
        return "required"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        value = list(value)
    return repr(value)


def section(title: str) -> str:
    text = DOC.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"docs/settings.md has no section '## {title}'"
    return match.group(1)


def rows_naming(text: str, names: list[str]) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.startswith("|") and all(f"`{name}`" in line.split("|")[1] for name in names)
    ]


def assert_documented(title: str, names: list[str], default: Any) -> None:
    rows = rows_naming(section(title), names)
    assert rows, f"{names} missing from '## {title}' in docs/settings.md"
    assert f"`{render(default)}`" in rows[0].split("|")[2], (
        f"{names} in '## {title}': default should read `{render(default)}`, row is: {rows[0]}"
    )


def layer_options(cls: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for param in inspect.signature(init).parameters.values():
            named = param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD) and param.name != "self"
            if named and param.name not in found:
                found[param.name] = REQUIRED if param.default is param.empty else param.default
    return found


LAYERS = [
    "MemoryChannelLayer",
    "RedisChannelLayer",
    "RedisSentinelChannelLayer",
    "SQLiteChannelLayer",
    "RedisClusterChannelLayer",
    "RabbitMQChannelLayer",
]


@pytest.mark.parametrize("name", LAYERS)
def test_layer_options_documented(name: str) -> None:
    """Every constructor option of each layer (CONFIG key) is in docs/settings.md with its default."""
    import channellayer

    for option, default in layer_options(getattr(channellayer, name)).items():
        assert_documented(f"{name} (CONFIG)", [option], default)


def test_daphne_options_documented() -> None:
    """Every daphne/interfaceserver command-line option is in docs/settings.md with all its spellings and default."""
    import click

    from interfaceserver.cli import main

    for param in main.params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            default = param.default
            if param.multiple:
                default = list(default) if isinstance(default, (list, tuple)) and default else None
            assert_documented("daphne / interfaceserver", list(param.opts), default)


def command_options(name: str) -> list[argparse.Action]:
    from django.core.management import load_command_class
    from django.core.management.base import BaseCommand

    command = load_command_class("channels.delay" if name == "rundelay" else "channels", name)
    parser = command.create_parser("manage.py", name)
    base = {opt for action in BaseCommand().create_parser("manage.py", "x")._actions for opt in action.option_strings}
    if name == "runserver":
        from django.core.management.commands.runserver import Command as DjangoRunserver

        base |= {
            opt
            for action in DjangoRunserver().create_parser("manage.py", "runserver")._actions
            for opt in action.option_strings
        }
    return [action for action in parser._actions if action.option_strings and not set(action.option_strings) & base]


@pytest.mark.parametrize("name", ["runworker", "runserver", "rundelay", "channels_status"])
def test_management_command_options_documented(name: str, settings_for_commands: None) -> None:
    """Every option our management commands add is in docs/settings.md with its default."""
    for action in command_options(name):
        assert_documented(f"manage.py {name}", list(action.option_strings), action.default)


@pytest.fixture
def settings_for_commands() -> None:
    import django

    django.setup()  # with the suite's settings (tests/conftest.py), which install channels and channels.delay
