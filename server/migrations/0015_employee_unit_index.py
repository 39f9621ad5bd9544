"""0015: `employee.unit_id` gets an index (issue 19). Every unit-month the scoring workers take lists the
unit's employees (server/services/members.py): without the index each was a scan of the whole table, so
a month-end run cost PostgreSQL units x employees row visits (1,000 x 1,000,000 at national scale).

The field's state is tortoise's AlterField (db_index=True); the database gets only the index, on both
dialects: tortoise's AlterField would rebuild the table on SQLite for it.
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State


class AddForeignKeyIndex(ops.AlterField):
    """An AlterField that only adds the index of a foreign key's column (the rest unchanged)."""

    async def database_forward(
        self, app_label: str, old_state: State, new_state: State, state_editor: BaseSchemaEditor | None = None
    ) -> None:
        if state_editor is not None:
            model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
            await state_editor.add_index(model, Index(fields=(f"{self.name}_id",)))

    async def database_backward(
        self, app_label: str, old_state: State, new_state: State, state_editor: BaseSchemaEditor | None = None
    ) -> None:
        if state_editor is not None:
            model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
            await state_editor.remove_index(model, Index(fields=(f"{self.name}_id",)))


class Migration(migrations.Migration):
    dependencies = [('models', '0014_explain_as_text')]

    initial = False

    operations = [
        AddForeignKeyIndex(
            model_name='Employee',
            name='unit',
            field=fields.ForeignKeyField('models.Unit', source_field='unit_id', db_index=True, db_constraint=True, to_field='code', related_name='employees', on_delete=OnDelete.RESTRICT),
        ),
    ]
