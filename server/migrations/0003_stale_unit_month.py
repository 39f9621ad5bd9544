"""0003: the stale unit-month queue (issue 19, server/stale_models.py), by `tortoise makemigrations`."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_gateway_enrolment')]

    initial = False

    operations = [
        ops.CreateModel(
            name='StaleUnitMonth',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('unit_code', fields.CharField(max_length=63)),
                ('year', fields.SmallIntField()),
                ('month', fields.SmallIntField()),
                ('version', fields.BigIntField(default=1)),
                ('marked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('leased_by', fields.CharField(null=True, max_length=127)),
            ],
            options={'table': 'stale_unit_month', 'app': 'models', 'unique_together': (('unit_code', 'year', 'month'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
