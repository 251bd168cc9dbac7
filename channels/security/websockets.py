"""``channels.security.websockets`` (from ``worker.security.websockets``)."""

from worker.security.websockets import AllowedHostsOnlyOriginValidator, BaseOriginValidator, allowed_hosts_only

__all__ = ["AllowedHostsOnlyOriginValidator", "BaseOriginValidator", "allowed_hosts_only"]
