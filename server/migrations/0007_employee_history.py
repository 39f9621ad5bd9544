"""0007: dated employee history and unit go-live dates (issue 15, server/history_models.py); monthly
scores unique per unit, so a transfer mid-month keeps a result in each unit. By `tortoise makemigrations`."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.migrations.operations import BaseSchemaEditor, State

class RemoveInlineUnique(ops.RemoveConstraint):
    """SQLite keeps a unique key inline in its table (no index to drop): the table is rebuilt without
    it. PostgreSQL drops the constraint."""

    async def database_forward(
        self, app_label: str, old_state: State, new_state: State, state_editor: BaseSchemaEditor | None = None
    ) -> None:
        if state_editor is not None and state_editor.DIALECT == "sqlite":
            await state_editor._remake_table(new_state.apps.get_model(f"{app_label}.{self.model_name}"))
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [('models', '0006_punch_partitions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EmployeeAssignment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('nip', fields.CharField(db_index=True, max_length=18)),
                ('valid_from', fields.DateField()),
                ('unit_code', fields.CharField(max_length=63)),
                ('office_code', fields.CharField(null=True, max_length=63)),
                ('position', fields.CharField(default='', max_length=200)),
                ('grade', fields.SmallIntField(null=True)),
                ('supervisor_nip', fields.CharField(null=True, max_length=18)),
                ('status', fields.CharField(default='active', max_length=24)),
                ('action', fields.CharField(default='edit', max_length=16)),
                ('reason', fields.TextField(default='', unique=False)),
                ('recorded_by', fields.CharField(default='', max_length=64)),
                ('recorded_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'employee_assignment', 'app': 'models', 'unique_together': (('nip', 'valid_from'),), 'indexes': [Index(fields=['unit_code', 'valid_from'])], 'pk_attr': 'id', 'table_description': "An employee's unit, office, position, grade, supervisor and status from valid_from until the next row."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnitGoLive',
            fields=[
                ('unit_code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=63)),
                ('live_from', fields.DateField()),
                ('recorded_by', fields.CharField(default='', max_length=64)),
            ],
            options={'table': 'unit_go_live', 'app': 'models', 'pk_attr': 'unit_code', 'table_description': 'The day a unit is scored from: days before it are no planned days for anyone in it.'},
            bases=['Model'],
        ),
        RemoveInlineUnique(
            model_name='MonthlyScore',
            name=None,
            fields=['nip', 'year', 'month'],
        ),
        ops.AddConstraint(
            model_name='MonthlyScore',
            constraint=UniqueConstraint(fields=('nip', 'unit_code', 'year', 'month'), name=None),
        ),
    ]
