"""The Django project every system of the full-stack benchmark serves.

The views (benchsite.views) are the same for all; what serves them is picked by ``BENCH_STACK``:
``ours`` / ``legacy`` (Channels 1 API: daphne + runworker over a channel layer, routing in
benchsite.routing), ``channels4`` (Daphne 4 + Channels 4, benchsite.asgi4), ``uvicorn`` (Django's own
ASGI app, benchsite.asgi_django) and ``gunicorn`` (Django's WSGI app, benchsite.wsgi).
"""
