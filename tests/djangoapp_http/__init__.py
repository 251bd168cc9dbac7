"""Django project for the HTTP side of the worker: views, static files, bindings, delay server, test helpers."""
