"""0005: employees' requests, their evidence and corrected punches (issue 15, server/request_models.py), by `tortoise makemigrations`."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_gateway_config')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EmployeeRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('nip', fields.CharField(db_index=True, max_length=18)),
                ('unit_code', fields.CharField(db_index=True, max_length=63)),
                ('kind', fields.CharField(max_length=64)),
                ('first_day', fields.DateField()),
                ('last_day', fields.DateField()),
                ('reason', fields.TextField(default='', unique=False)),
                ('punch_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('punch_state', fields.SmallIntField(null=True)),
                ('utc_offset_minutes', fields.SmallIntField(default=420)),
                ('status', fields.CharField(default='pending', db_index=True, max_length=16)),
                ('steps', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('step', fields.SmallIntField(default=0)),
                ('decisions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('decision_reason', fields.TextField(default='', unique=False)),
                ('policy', fields.CharField(default='', max_length=100)),
                ('filed_by', fields.CharField(max_length=64)),
                ('filed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('excuse_id', fields.IntField(null=True)),
            ],
            options={'table': 'employee_request', 'app': 'models', 'indexes': [Index(fields=['status', 'unit_code'])], 'pk_attr': 'id', 'table_description': 'One request of one employee: the days asked for, the steps to decide it and each decision made.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CorrectedPunch',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('nip', fields.CharField(max_length=18)),
                ('unit_code', fields.CharField(max_length=63)),
                ('punched_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('utc_offset_minutes', fields.SmallIntField()),
                ('state', fields.SmallIntField()),
                ('request', fields.ForeignKeyField('models.EmployeeRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='corrected_punches', on_delete=OnDelete.RESTRICT)),
                ('approved_by', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'corrected_punch', 'app': 'models', 'indexes': [Index(fields=['nip', 'punched_at'])], 'pk_attr': 'id', 'table_description': 'A punch an approved correction of attendance adds (a forgotten punch, a broken device): never in'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RequestEvidence',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request', fields.ForeignKeyField('models.EmployeeRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='evidence', on_delete=OnDelete.CASCADE)),
                ('filename', fields.CharField(max_length=200)),
                ('content_type', fields.CharField(max_length=100)),
                ('size', fields.IntField()),
                ('data', fields.BinaryField()),
                ('uploaded_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'request_evidence', 'app': 'models', 'pk_attr': 'id', 'table_description': "A file attached to a request (a doctor's letter, an assignment letter, a photo of the device),"},
            bases=['Model'],
        ),
    ]
