"""Channel routing for the HTTP-side integration tests: a WebSocket echo and a group chat."""

from worker.channel import Group
from worker.generic.websockets import JsonWebsocketConsumer, WebsocketDemultiplexer
from worker.routing import route, route_class
from worker.sessions import channel_session


def ws_echo(message):
    if "text" in message.content:
        message.reply_channel.send({"text": message["text"]})
    else:
        message.reply_channel.send({"bytes": message["bytes"]})


@channel_session
def chat_connect(message, room):
    message.channel_session["room"] = room
    Group(f"chat-{room}").add(message.reply_channel)
    message.reply_channel.send({"accept": True})


@channel_session
def chat_receive(message, room):
    Group(f"chat-{message.channel_session['room']}").send({"text": message["text"]})


class EchoStream(JsonWebsocketConsumer):
    def receive(self, content, multiplexer=None, **kwargs):
        multiplexer.send(content)


class Mux(WebsocketDemultiplexer):
    consumers = {"echo": EchoStream}


channel_routing = [
    route_class(Mux, path=r"^/mux/$"),
    route("websocket.connect", chat_connect, path=r"^/chat/(?P<room>\w+)/$"),
    route("websocket.receive", chat_receive, path=r"^/chat/(?P<room>\w+)/$"),
    route("websocket.receive", ws_echo, path=r"^/echo/$"),
]
