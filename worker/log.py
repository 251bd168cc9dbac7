"""``setup_logger``: the console logging of ``runworker`` / ``runserver`` (Channels 1.1.8 helper)."""

from __future__ import annotations

import logging

__all__ = ["handler", "setup_logger"]

handler = logging.StreamHandler()


def setup_logger(name: str, verbosity: int = 1) -> logging.Logger:
    """Log ``name`` to stderr at INFO (DEBUG from verbosity 2), once, without propagating."""
    handler.setFormatter(logging.Formatter(fmt="%(asctime)s - %(levelname)s - %(module)s - %(message)s"))
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
    if handler not in logger.handlers:
        logger.addHandler(handler)
    logger.propagate = False
    return logger
