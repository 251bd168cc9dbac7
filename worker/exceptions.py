"""The exceptions consumers raise to steer the worker (the Channels 1.1.8 set, same names).

``ConsumeLater`` requeues the message, ``DenyConnection`` rejects a WebSocket handshake, and a
``ChannelSocketException`` runs its own :meth:`~ChannelSocketException.run` with the message. The
others belong to the HTTP handler: ``ResponseLater``, ``RequestTimeout``, ``RequestAborted``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channellayer.messages import WebSocketReply, is_application_close_code

if TYPE_CHECKING:
    from .message import Message

__all__ = [
    "ChannelSocketException",
    "ConsumeLater",
    "DenyConnection",
    "RequestAborted",
    "RequestTimeout",
    "ResponseLater",
    "SendNotAvailableOnDemultiplexer",
    "WebsocketCloseException",
]


class ConsumeLater(Exception):
    """The message is not ready to be consumed: the worker puts it back on its channel.

    The worker counts the requeues in ``content["__retries__"]`` and drops the message with a
    warning after ``message_retries`` (10) of them.
    """


class ResponseLater(Exception):
    """Raised by a view that hands the response over to another consumer; nothing is sent now."""


class RequestTimeout(Exception):
    """Reading the request body from its ``body_channel`` took too long (answered with 408)."""


class RequestAborted(Exception):
    """A body chunk said ``closed``: the client went away, so no response is sent."""


class DenyConnection(Exception):
    """Raised by a ``websocket.connect`` consumer to reject the handshake (the server answers 403)."""


class ChannelSocketException(Exception):
    """Base for exceptions that act on the socket of the message being consumed.

    The worker catches it and calls :meth:`run` with the message, inside the consumer's send
    buffer, so what ``run`` sends goes out with the consumer's other sends.
    """

    def run(self, message: Message) -> None:
        raise NotImplementedError


class WebsocketCloseException(ChannelSocketException):
    """Close the WebSocket of the message being consumed, with an optional close code.

    ``code`` must be None, 1000, or from 3000 to 4999 (``ValueError`` otherwise). Unlike
    Channels 1.1.8, which looked for a ``websocket.`` prefix on the *reply* channel and so refused
    every Daphne 1.2+ socket (``daphne.response.X!Y``), this checks that the *message* came in on a
    ``websocket.*`` channel and has a reply channel.
    """

    def __init__(self, code: int | None = None) -> None:
        # The application rule of channellayer.messages (what a legacy Daphne 1.4.2 accepts too);
        # True is the ASGI 1 shorthand for 1000.
        if not (code is None or code is True or is_application_close_code(code)):
            raise ValueError(f"invalid close code {code!r} (must be 1000 or from [3000, 4999])")
        super().__init__(code)
        self._code = code

    @property
    def code(self) -> int | None:
        return self._code

    def run(self, message: Message) -> None:
        if not message.channel.name.startswith("websocket.") or message.reply_channel is None:
            raise ValueError(
                f"You cannot raise WebsocketCloseException from a non-websocket handler "
                f"(message on {message.channel.name!r})."
            )
        reply: WebSocketReply = {"close": self._code or True}
        message.reply_channel.send(dict(reply))  # Channel.send takes a dict, which a TypedDict is not


class SendNotAvailableOnDemultiplexer(Exception):
    """A demultiplexer cannot send by itself; send through the multiplexer it gives each consumer."""
