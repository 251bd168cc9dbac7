"""Data binding: model changes sent to groups, and client messages applied to models (reference §5.10)."""

from .base import CREATE, DELETE, UPDATE, Binding, BindingMetaclass, register_all

__all__ = ["CREATE", "DELETE", "UPDATE", "Binding", "BindingMetaclass", "register_all"]
