"""The schema of ``channels.delay``: its one migration, ``0001_initial``.

Django loads it from ``channels/delay/migrations/0001_initial.py``, which re-exports
:class:`InitialMigration` as ``Migration``. It creates ``channels.delay_delayedmessage`` — or adopts
the table when a database that ran Channels 1.1.8 already has it (1.1.8 recorded its migration under
the label ``channels.delay``, which modern Django cannot load, so ours runs once and finds the table).
"""

from typing import Any

from django.db import migrations, models

__all__ = ["InitialMigration"]


class _CreateModelUnlessPresent(migrations.CreateModel):
    """``CreateModel`` that leaves an existing table (from Channels 1.1.8) in place."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.name)
        if model._meta.db_table in schema_editor.connection.introspection.table_names():
            return
        super().database_forwards(app_label, schema_editor, from_state, to_state)


class InitialMigration(migrations.Migration):
    """Creates (or adopts) the ``DelayedMessage`` table."""

    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        _CreateModelUnlessPresent(
            name="DelayedMessage",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("due_date", models.DateTimeField(db_index=True)),
                ("channel_name", models.CharField(max_length=512)),
                ("content", models.TextField()),
            ],
            options={"db_table": "channels.delay_delayedmessage"},
        ),
    ]
