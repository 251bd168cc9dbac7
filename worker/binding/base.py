"""``Binding``: the protocol-neutral two-way data binding of Channels 1.1.8.

Outbound: each subclass with a ``model`` is connected to that model's ``pre_save``/``post_save``/
``pre_delete``/``post_delete`` signals when the ``channels`` app is ready (:func:`register_all`;
later subclasses register at once). ``group_names(instance)`` is asked before and after the change,
and the two sets are diffed: groups that lost the instance get ``delete``, groups that kept it get
``update``, groups that gained it get ``create`` (in that order, as Django DDP did).
``serialize(instance, action)`` makes the payload (``{}`` sends nothing) and ``encode(stream,
payload)`` the message for ``Group(name).send``.

Inbound: ``Binding.consumer`` (a consumer, usually behind a demultiplexer) runs
``deserialize`` → ``has_permission(user, action, pk)`` → ``create`` / ``update`` / ``delete``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.apps import apps
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

from ..auth import channel_session_user
from ..channel import Group
from ..sessions import channel_session

__all__ = ["CREATE", "DELETE", "UPDATE", "Binding", "BindingMetaclass", "register_all"]

CREATE = "create"
UPDATE = "update"
DELETE = "delete"


class BindingMetaclass(type):
    """Records every ``Binding`` subclass; :meth:`register_all` connects them once apps are ready."""

    register_immediately: ClassVar[bool] = False
    binding_classes: ClassVar[list[type]] = []

    def __new__(mcs, name: str, bases: tuple[type, ...], body: dict[str, Any]) -> BindingMetaclass:
        klass = super().__new__(mcs, name, bases, body)
        if any(isinstance(base, BindingMetaclass) for base in bases):
            if mcs.register_immediately:
                # Raises for a binding without model/fields; then it is not recorded either.
                klass.register()  # type: ignore[attr-defined]
            mcs.binding_classes.append(klass)
        return klass

    @classmethod
    def register_all(mcs) -> None:
        """Connect every binding defined so far; bindings defined later connect themselves."""
        for binding_class in mcs.binding_classes:
            binding_class.register()  # type: ignore[attr-defined]
        mcs.register_immediately = True


def register_all() -> None:
    """What the ``channels`` app's ``ready()`` calls: see :meth:`BindingMetaclass.register_all`."""
    BindingMetaclass.register_all()


class Binding(metaclass=BindingMetaclass):
    """Two-way binding between a model and groups of sockets; see the module docstring.

    Outbound needs ``group_names`` and ``serialize`` (and ``stream`` + ``encode``); inbound needs
    ``deserialize``, ``has_permission``, ``create`` and ``update``. ``model`` is a model class or an
    ``"app_label.ModelName"`` string; ``fields`` (or ``["__all__"]``) or ``exclude`` is required.
    """

    model: Any = None
    fields: Any = None
    exclude: Any = None
    stream: str | None = None

    #: Inbound messages get ``message.user`` from the channel session (``channel_session_user``).
    channel_session_user = True
    #: Without ``channel_session_user``: just ``channel_session``.
    channel_session = False

    #: The keyword arguments of the model signal that triggered an outbound send.
    signal_kwargs: dict[str, Any] | None = None

    model_label: str

    # Set on the instance that handles one change (outbound) or one message (inbound).
    instance: Any
    message: Any
    kwargs: dict[str, Any]
    action: str
    pk: Any
    data: Any
    user: Any

    # -- registration ---------------------------------------------------------------------------

    @classmethod
    def register(cls) -> None:
        """Connect this binding to its model's save and delete signals (idempotent)."""
        for model in cls.get_registered_models():
            uid = f"channels.binding:{cls.__module__}.{cls.__qualname__}"
            pre_save.connect(cls.pre_save_receiver, sender=model, dispatch_uid=uid)
            post_save.connect(cls.post_save_receiver, sender=model, dispatch_uid=uid)
            pre_delete.connect(cls.pre_delete_receiver, sender=model, dispatch_uid=uid)
            post_delete.connect(cls.post_delete_receiver, sender=model, dispatch_uid=uid)

    @classmethod
    def get_registered_models(cls) -> list[Any]:
        """The model this binding covers (resolving an ``"app.Model"`` string); [] for an abstract binding.

        ``ValueError`` when ``model`` was never set, or neither ``fields`` nor ``exclude`` is.
        """
        if cls.model is None:
            if "model" in cls.__dict__:
                return []  # explicitly abstract
            raise ValueError(f"You must set the model attribute on Binding {cls!r}!")
        if cls.fields is None and cls.exclude is None:
            raise ValueError(f"You must set the fields or exclude attribute on Binding {cls!r}!")
        if isinstance(cls.model, str):
            cls.model = apps.get_model(cls.model)
        cls.model_label = f"{cls.model._meta.app_label.lower()}.{cls.model._meta.object_name.lower()}"
        return [cls.model]

    # -- outbound -------------------------------------------------------------------------------

    @classmethod
    def encode(cls, stream: str, payload: Any) -> dict[str, Any]:
        """The message that carries ``payload`` on ``stream`` to a group."""
        raise NotImplementedError()

    @classmethod
    def pre_save_receiver(cls, instance: Any, **kwargs: Any) -> None:
        cls.pre_change_receiver(instance, CREATE if instance._state.adding else UPDATE)

    @classmethod
    def post_save_receiver(cls, instance: Any, created: bool, **kwargs: Any) -> None:
        cls.post_change_receiver(instance, CREATE if created else UPDATE, **kwargs)

    @classmethod
    def pre_delete_receiver(cls, instance: Any, **kwargs: Any) -> None:
        cls.pre_change_receiver(instance, DELETE)

    @classmethod
    def post_delete_receiver(cls, instance: Any, **kwargs: Any) -> None:
        cls.post_change_receiver(instance, DELETE, **kwargs)

    @classmethod
    def pre_change_receiver(cls, instance: Any, action: str) -> None:
        """Remember the groups the instance belonged to before the change.

        For an update, the groups are those of the row as stored: Channels 1.1.8 asked the instance
        being saved, which already carries the new values, so a row moving between groups was sent
        as an "update" to the new groups and never as a "delete" to the old ones.
        """
        if action == CREATE:
            group_names: set[str] = set()
        else:
            before = instance
            if action == UPDATE and instance.pk is not None:
                stored = type(instance)._default_manager.filter(pk=instance.pk).first()
                before = stored if stored is not None else instance
            group_names = set(cls.group_names(before))
        if not hasattr(instance, "_binding_group_names"):
            instance._binding_group_names = {}
        instance._binding_group_names[cls] = group_names

    @classmethod
    def post_change_receiver(cls, instance: Any, action: str, **kwargs: Any) -> None:
        """Diff old and new groups and send delete / update / create to each."""
        # A save() that bypassed pre_save (e.g. a raw fixture load) has no "before": treat it as new.
        old_group_names = getattr(instance, "_binding_group_names", {}).pop(cls, set())
        new_group_names = set() if action == DELETE else set(cls.group_names(instance))
        self = cls()
        self.instance = instance
        self.send_messages(instance, old_group_names - new_group_names, DELETE, **kwargs)
        self.send_messages(instance, old_group_names & new_group_names, UPDATE, **kwargs)
        self.send_messages(instance, new_group_names - old_group_names, CREATE, **kwargs)

    def send_messages(self, instance: Any, group_names: set[str], action: str, **kwargs: Any) -> None:
        """Serialize once and send to every group (buffered inside a consumer, as any Group send)."""
        if not group_names:
            return
        self.signal_kwargs = kwargs
        payload = self.serialize(instance, action)
        if payload == {}:
            return
        if self.stream is None:
            raise ValueError(f"Binding {type(self).__name__} has no stream set")
        message = self.encode(self.stream, payload)
        for group_name in sorted(group_names):
            Group(group_name).send(message)

    @classmethod
    def group_names(cls, instance: Any) -> Any:
        """The group names the instance is sent to (asked before and after each change)."""
        raise NotImplementedError()

    def serialize(self, instance: Any, action: str) -> Any:
        """The payload for ``instance`` after ``action``; ``{}`` sends nothing."""
        raise NotImplementedError()

    # -- inbound --------------------------------------------------------------------------------

    @classmethod
    def trigger_inbound(cls, message: Any, **kwargs: Any) -> None:
        """Apply one client message: deserialize, check permission, run the action."""
        from django.contrib.auth.models import AnonymousUser

        self = cls()
        self.message = message
        self.kwargs = kwargs
        self.action, self.pk, self.data = self.deserialize(message)
        self.user = getattr(message, "user", AnonymousUser())
        self.run_action(self.action, self.pk, self.data)

    @classmethod
    def get_handler(cls) -> Any:
        """``trigger_inbound`` wrapped in the session decorators the class flags ask for."""
        handler = cls.trigger_inbound
        if cls.channel_session_user:
            return channel_session_user(handler)
        if cls.channel_session:
            return channel_session(handler)
        return handler

    @classmethod
    def consumer(cls, message: Any, **kwargs: Any) -> None:
        """The inbound consumer (route it, or list it in a demultiplexer)."""
        cls.get_handler()(message, **kwargs)

    def deserialize(self, message: Any) -> tuple[str, Any, Any]:
        """``(action, pk, data)`` from a message (pk None on create, data None on delete)."""
        raise NotImplementedError()

    def has_permission(self, user: Any, action: str, pk: Any) -> bool:
        """May ``user`` (maybe ``AnonymousUser``) do ``action`` on ``pk``?"""
        raise NotImplementedError()

    def run_action(self, action: str, pk: Any, data: Any) -> None:
        """Dispatch an allowed action; ``ValueError`` for an unknown one."""
        if not self.has_permission(self.user, action, pk):
            return
        if action == CREATE:
            self.create(data)
        elif action == UPDATE:
            self.update(pk, data)
        elif action == DELETE:
            self.delete(pk)
        else:
            raise ValueError(f"Bad action {action!r}")

    def create(self, data: Any) -> None:
        raise NotImplementedError()

    def update(self, pk: Any, data: Any) -> None:
        raise NotImplementedError()

    def delete(self, pk: Any) -> None:
        """Delete the instance with ``pk`` (nothing if it is already gone)."""
        self.model.objects.filter(pk=pk).delete()
