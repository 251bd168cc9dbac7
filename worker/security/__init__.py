"""Security helpers for consumers (Channels 1.1.8): WebSocket origin validation."""
