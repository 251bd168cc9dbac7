"""The delay server: messages on ``asgi.delay`` are stored and sent to their channel when due.

Install as ``"channels.delay"`` (the app package that holds the model, migration and ``rundelay``
command re-exports this one). See :mod:`worker.delay.server` for the loop.
"""
