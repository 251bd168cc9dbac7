"""The live list: every change to a ``Note`` reaches the open pages of its room."""

from channels.binding.websockets import WebsocketBindingWithMembers

from .models import Note


class NoteBinding(WebsocketBindingWithMembers):
    """Outbound: create/update/delete of a note goes to ``notes-<room>`` on stream ``notes``.
    Inbound: a logged-in user may create notes in the room of the socket and delete their own.
    """

    model = Note
    stream = "notes"
    fields = ["room", "text", "created"]
    send_members = ["author.username"]

    @staticmethod
    def room_group_name(room):
        return f"notes-{room}"

    @classmethod
    def group_names(cls, instance):
        return [cls.room_group_name(instance.room)]

    def has_permission(self, user, action, pk):
        if not user.is_authenticated:
            return False
        if action == "create":
            return True
        if action == "delete":
            return Note.objects.filter(pk=pk, author=user).exists()
        return False

    def create(self, data):
        # The room comes from the socket's path and the author from its login, never from the frame.
        text = str((data or {}).get("text", "")).strip()[:500]
        if text:
            Note.objects.create(room=self.kwargs["room"], author=self.user, text=text)
