"""``channels.binding.base`` (from ``worker.binding.base``)."""

from worker.binding.base import CREATE, DELETE, UPDATE, Binding, BindingMetaclass

__all__ = ["CREATE", "DELETE", "UPDATE", "Binding", "BindingMetaclass"]
