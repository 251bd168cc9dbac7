"""The worker loop and the Django side of the Channels 1 API (see docs/worker.md)."""
