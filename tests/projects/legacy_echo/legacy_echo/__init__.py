"""A small Channels 1 project for interop tests: HTTP views and WebSocket echo/reject/group consumers."""
