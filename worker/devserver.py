"""``DevServer``: the interface server behind Daphne 1.4.2's ``Server(...)`` keywords, run in this thread.

``manage.py runserver`` builds its server through ``Command.server_cls`` with exactly the keywords
Channels 1.1.8 passed to ``daphne.server.Server`` (``channel_layer``, ``endpoints``,
``signal_handlers``, ``action_logger``, ``http_timeout``, ``ws_protocols``, ``root_path``,
``websocket_handshake_timeout``), so 1.1.8 users' tests that patch ``server_cls`` and assert on that
call keep working. ``run()`` runs our interface server in the calling thread through its embedding
API (:class:`interfaceserver.embedded.EmbeddedServer`) until it is stopped: by a signal, or by
:meth:`DevServer.stop` from another thread (runserver does that under the autoreloader).

``action_logger(protocol, action, details)`` is Daphne's hook: ``("http", "complete", {method, path,
status, client, time_taken, size})`` per response and ``("websocket", "connecting" | "connected" |
"rejected" | "disconnected", {path, client})`` per WebSocket event; :class:`ActionLog` turns the
interface server's access-log calls into it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interfaceserver.embedded import EmbeddedServer

__all__ = ["ActionLog", "DevServer"]

logger = logging.getLogger("django.channels")

#: ``action_logger(protocol, action, details)`` as Daphne 1.4.2 called it.
ActionLogger = Callable[[str, str, dict[str, Any]], None]

_WEBSOCKET_ACTIONS = {
    "CONNECTING": "connecting",
    "CONNECT": "connected",
    "REJECT": "rejected",
    "DISCONNECT": "disconnected",
}


class ActionLog:
    """The interface server's access-log hook (``http()`` / ``websocket()``) feeding a Daphne ``action_logger``."""

    def __init__(self, action_logger: ActionLogger) -> None:
        self.action_logger = action_logger

    @staticmethod
    def _client(client: Any) -> str | None:
        return f"{client[0]}:{client[1]}" if client else None

    def http(
        self,
        client: Any,
        method: str,
        path: str,
        status: int | None,
        length: int | None,
        time_taken: float | None = None,
    ) -> None:
        self.action_logger(
            "http",
            "complete",
            {
                "method": method,
                "path": path,
                "status": status,
                "client": self._client(client),
                "time_taken": time_taken,
                "size": length,
            },
        )

    def websocket(self, client: Any, action: str, path: str) -> None:
        self.action_logger(
            "websocket", _WEBSOCKET_ACTIONS.get(action, action.lower()), {"path": path, "client": self._client(client)}
        )


class DevServer:
    """An in-process interface server configured with Daphne 1.4.2's ``Server`` keywords.

    ``channel_layer`` is a ``ChannelLayerWrapper`` (as 1.1.8's runserver passed) or a raw layer.
    ``drain_timeout`` (not a Daphne keyword) is short: a development server should stop and reload
    quickly.
    """

    def __init__(
        self,
        channel_layer: Any,
        endpoints: Sequence[str] = (),
        signal_handlers: bool = True,
        action_logger: ActionLogger | None = None,
        http_timeout: float = 120,
        websocket_timeout: float | None = None,
        websocket_connect_timeout: float = 5,
        ping_interval: float = 20,
        ping_timeout: float = 30,
        ws_protocols: Sequence[str] | None = None,
        root_path: str = "",
        websocket_handshake_timeout: float = 5,
        drain_timeout: float = 5,
        label: str = "runserver",
    ) -> None:
        from interfaceserver.config import DEFAULT_ENDPOINT, Config
        from interfaceserver.embedded import EmbeddedServer

        self.channel_layer = channel_layer
        self.raw_layer = getattr(channel_layer, "channel_layer", channel_layer)
        self.signal_handlers = signal_handlers
        self.action_logger = action_logger
        self.exit_code = 0
        self.config = Config(
            # The layer object is handed to the server directly; this only labels it.
            channel_layer=label,
            endpoints=tuple(endpoints) or (DEFAULT_ENDPOINT,),
            http_timeout=float(http_timeout),
            websocket_timeout=websocket_timeout,
            websocket_connect_timeout=float(websocket_connect_timeout),
            ping_interval=float(ping_interval),
            ping_timeout=float(ping_timeout),
            ws_protocols=tuple(ws_protocols or ()),
            root_path=root_path or "",
            websocket_handshake_timeout=float(websocket_handshake_timeout),
            drain_timeout=float(drain_timeout),
        )
        access_log = ActionLog(action_logger) if action_logger is not None else None
        self.server = EmbeddedServer(self.config, self.raw_layer, access_log)

    def run(self) -> None:
        """Run until stopped; ``exit_code`` is 1 if the server could not listen.

        Signal handlers are installed only when asked for and on the main thread (under the
        autoreloader the server runs in a daemon thread, and runserver calls :meth:`stop`).
        """
        server = self.server
        try:
            self.exit_code = server.run(install_signal_handlers=self.signal_handlers)
        finally:
            self._wake_reply_reader(server)
        if server.error is not None:
            sys.stderr.write(f"Error: {server.error}\n")

    def stop(self) -> None:
        """Drain and stop the server from another thread and wait for it (at most drain_timeout + 5 s).

        Before :meth:`run`, it makes ``run()`` return at once; after it, it does nothing.
        """
        self.server.stop()

    def _wake_reply_reader(self, server: EmbeddedServer) -> None:
        """Unblock the reply reader's blocking receive (it runs in a pool thread the exit waits for)."""
        if server.reply_prefix is None:  # it never ran
            return
        try:
            self.raw_layer.send(f"{server.reply_prefix}runserver-exit", {"wake": True})
        except Exception:
            logger.debug("Could not wake the reply reader", exc_info=True)
