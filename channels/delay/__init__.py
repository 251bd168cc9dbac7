"""``INSTALLED_APPS = [..., "channels.delay"]``: the delay server app (code in ``worker.delay``)."""
