"""0009: dated changes recorded before their day, applied on it by the life-cycle runner, and the areas
whose devices each change reaches (issue 18, server/history_models.py ScheduledChange). By hand after
`tortoise makemigrations`' shape."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_objections')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ScheduledChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('assignment_id', fields.BigIntField(unique=True)),
                ('nip', fields.CharField(db_index=True, max_length=18)),
                ('valid_from', fields.DateField()),
                ('zone', fields.CharField(default='WIB', max_length=4)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('areas', fields.JSONField(default=list)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('leased_by', fields.CharField(null=True, max_length=96)),
                ('recorded_by', fields.CharField(default='', max_length=64)),
                ('recorded_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('done_by', fields.CharField(default='', max_length=64)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('devices_told_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'scheduled_change', 'app': 'models', 'indexes': [Index(fields=['status', 'valid_from'])], 'pk_attr': 'id', 'table_description': "What a dated change does on its day, beyond its history row: the employee row and grade follow it"},
            bases=['Model'],
        ),
    ]
