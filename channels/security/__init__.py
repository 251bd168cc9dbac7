"""``channels.security`` (from ``worker.security``)."""
