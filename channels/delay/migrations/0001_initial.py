"""The app's migration, defined in ``worker.delay.schema``."""

from worker.delay.schema import InitialMigration as Migration

__all__ = ["Migration"]
