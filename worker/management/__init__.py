"""Management commands implemented by the worker package."""
