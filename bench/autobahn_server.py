"""A bare Autobahn WebSocket server on Twisted, the floor under any Autobahn-based interface server.

``python bench/autobahn_server.py PORT PING_INTERVAL``: accepts every WebSocket on ``PORT``, echoes
messages, and pings idle sockets every ``PING_INTERVAL`` seconds (pong timeout 30 s, Daphne's
defaults). There is no channel layer, no HTTP handling and no per-socket application state: whatever
memory and idle CPU this process spends per socket, a server built on Autobahn's
``WebSocketServerProtocol`` spends at least that much.
"""

from __future__ import annotations

import sys

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import asyncioreactor


class EchoProtocol(WebSocketServerProtocol):
    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # noqa: N802, N803 (Autobahn's names)
        self.sendMessage(payload, isBinary)


def main() -> None:
    port, ping_interval = int(sys.argv[1]), float(sys.argv[2])
    asyncioreactor.install()  # the reactor our interface server runs on
    from twisted.internet import reactor

    factory = WebSocketServerFactory(f"ws://127.0.0.1:{port}")
    factory.setProtocolOptions(autoPingInterval=ping_interval, autoPingTimeout=30)
    factory.protocol = EchoProtocol
    reactor.listenTCP(port, factory, backlog=1024, interface="127.0.0.1")  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
