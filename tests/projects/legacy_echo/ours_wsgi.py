"""The legacy project's wsgi.py after the one-line change: gunicorn serves it through runworker processes."""

from ours_layer import channel_layer

from interfaceserver.wsgi import WsgiToAsgiAdapter

application = WsgiToAsgiAdapter(channel_layer)
