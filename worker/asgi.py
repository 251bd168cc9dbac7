"""The channel layers of a Django project: ``CHANNEL_LAYERS`` → ``channel_layers[alias]``.

``ChannelLayerManager`` builds each alias lazily from settings: ``BACKEND`` is resolved through the
channel layer's alias table (so ``"asgi_redis.RedisChannelLayer"``, ``"asgiref.inmemory.ChannelLayer"``
and our own names all work), ``CONFIG`` becomes its options, and ``ROUTING`` its router. The result
is a ``ChannelLayerWrapper``: the raw layer plus alias and router, proxying every other attribute to
the layer. ``get_channel_layer()`` is what a project's ``asgi.py`` calls for Daphne.
"""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings

import channellayer
from channellayer import MemoryChannelLayer

from .routing import Router
from .utils import name_that_thing

__all__ = [
    "DEFAULT_CHANNEL_LAYER",
    "ChannelLayerManager",
    "ChannelLayerWrapper",
    "InvalidChannelLayerError",
    "channel_layers",
    "get_channel_layer",
]

DEFAULT_CHANNEL_LAYER = "default"


class InvalidChannelLayerError(ValueError):
    """A ``CHANNEL_LAYERS`` entry is unusable: no BACKEND, a BACKEND that cannot be built, or no ROUTING."""


class ChannelLayerWrapper:
    """A raw channel layer with its Django-side ``alias``, ``routing`` and ``router``.

    Every other attribute (``send``, ``receive``, ``group_add``, ``ChannelFull`` …) is the raw layer's.
    """

    def __init__(self, channel_layer: Any, alias: str, routing: Any) -> None:
        self.channel_layer = channel_layer
        self.alias = alias
        self.routing = routing
        self.router = Router(routing)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the wrapper lacks; guard the ones set in __init__ against recursion
        # while the object is half-built (e.g. during copy or unpickling).
        if name in ("channel_layer", "alias", "routing", "router"):
            raise AttributeError(name)
        return getattr(self.channel_layer, name)

    def __str__(self) -> str:
        return f"{self.alias} ({name_that_thing(self.channel_layer)})"

    def local_only(self) -> bool:
        """True when the layer lives in this process only (it cannot feed other processes).

        Decided by the module of the layer's class, as in 1.1.8: our memory layer's, or any module
        named ``…inmemory…``. A subclass defined elsewhere counts as cross-process — 1.1.8's tests
        (and users' tests) subclass the in-memory layer precisely to get past ``runworker``'s check.
        """
        module = type(self.channel_layer).__module__
        return module == MemoryChannelLayer.__module__ or "inmemory" in module


class ChannelLayerManager:
    """``CHANNEL_LAYERS`` aliases → wrappers, each built on first use and then kept."""

    def __init__(self) -> None:
        self.backends: dict[str, ChannelLayerWrapper] = {}

    @property
    def configs(self) -> dict[str, Any]:
        # Read at use time so the module can be imported before settings are configured.
        return getattr(settings, "CHANNEL_LAYERS", {}) or {}

    def make_backend(self, name: str) -> ChannelLayerWrapper:
        """Build the wrapper for alias ``name`` from its ``CONFIG``."""
        return self._make_backend(name, self._config(name).get("CONFIG", {}) or {})

    def make_test_backend(self, name: str) -> ChannelLayerWrapper:
        """Build the wrapper for alias ``name`` from its ``TEST_CONFIG`` (live-server tests)."""
        try:
            config = self._config(name)["TEST_CONFIG"]
        except KeyError:
            raise InvalidChannelLayerError(f"No TEST_CONFIG specified for {name}") from None
        return self._make_backend(name, config or {})

    def _config(self, name: str) -> dict[str, Any]:
        try:
            return dict(self.configs[name])
        except KeyError:
            raise InvalidChannelLayerError(
                f"No channel layer named {name!r} in CHANNEL_LAYERS (configured: {sorted(self.configs)})"
            ) from None

    def _make_backend(self, name: str, config: dict[str, Any]) -> ChannelLayerWrapper:
        entry = self._config(name)
        backend = entry.get("BACKEND")
        if not backend:
            raise InvalidChannelLayerError(f"No BACKEND specified for {name}")
        if "ROUTING" not in entry:
            raise InvalidChannelLayerError(f"No ROUTING specified for {name}")
        try:
            channellayer.resolve_backend(backend)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            raise InvalidChannelLayerError(f"Cannot import BACKEND {backend!r} specified for {name}: {exc}") from exc
        try:
            layer = channellayer.get_channel_layer(backend, dict(config))
        except (TypeError, ValueError) as exc:
            raise InvalidChannelLayerError(f"Cannot build BACKEND {backend!r} specified for {name}: {exc}") from exc
        return ChannelLayerWrapper(channel_layer=layer, alias=name, routing=entry["ROUTING"])

    def __getitem__(self, key: str) -> ChannelLayerWrapper:
        if key not in self.backends:
            self.backends[key] = self.make_backend(key)
        return self.backends[key]

    def __contains__(self, key: object) -> bool:
        return key in self.configs

    def set(self, key: str, layer: ChannelLayerWrapper | None) -> ChannelLayerWrapper | None:
        """Point ``key`` at another wrapper (tests swap layers this way); return the one it replaced."""
        old = self.backends.get(key)
        if layer is None:
            self.backends.pop(key, None)
        else:
            self.backends[key] = layer
        return old


def get_channel_layer(alias: str = DEFAULT_CHANNEL_LAYER) -> Any:
    """Set Django up and return the **raw** layer of ``alias`` (for ``asgi.py``: ``channel_layer = get_channel_layer()``)."""
    django.setup(set_prefix=False)
    return channel_layers[alias].channel_layer


#: The project's channel layers (``channels.channel_layers``).
channel_layers = ChannelLayerManager()
