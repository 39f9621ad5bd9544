"""0008: employees' objections (keberatan) and their decisions (issue 15, server/objection_models.py), by `tortoise makemigrations`."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_employee_history')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Objection',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('nip', fields.CharField(db_index=True, max_length=18)),
                ('unit_code', fields.CharField(db_index=True, max_length=63)),
                ('subject', fields.CharField(max_length=16)),
                ('day', fields.DateField()),
                ('request_id', fields.IntField(null=True)),
                ('claim_id', fields.CharField(null=True, max_length=32)),
                ('category', fields.CharField(default='', max_length=32)),
                ('reason', fields.TextField(unique=False)),
                ('decider', fields.CharField(max_length=32)),
                ('decider_nip', fields.CharField(null=True, max_length=18)),
                ('status', fields.CharField(default='pending', db_index=True, max_length=16)),
                ('decision_reason', fields.TextField(default='', unique=False)),
                ('decided_by', fields.CharField(null=True, max_length=64)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('remedy', fields.CharField(default='', max_length=16)),
                ('remedy_ref', fields.CharField(default='', max_length=64)),
                ('policy', fields.CharField(default='', max_length=100)),
                ('filed_by', fields.CharField(max_length=64)),
                ('filed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'objection', 'app': 'models', 'indexes': [Index(fields=['status', 'decider_nip'])], 'pk_attr': 'id', 'table_description': "One objection. `day` is the day objected to, the rejected request's first day, the claim's day, or"},
            bases=['Model'],
        ),
    ]
