"""0004: configuration from the centre (issue 20, server/gateway_config_models.py), by `tortoise makemigrations`."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_stale_unit_month')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GatewayConfigRevision',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('gateway_id', fields.CharField(db_index=True, max_length=63)),
                ('unit_code', fields.CharField(max_length=63)),
                ('revision', fields.IntField()),
                ('document', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_by', fields.CharField(max_length=150)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('command_id', fields.CharField(null=True, max_length=64)),
                ('status', fields.CharField(default='sent', max_length=16)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'gateway_config_revision', 'app': 'models', 'unique_together': (('gateway_id', 'revision'),), 'pk_attr': 'id', 'table_description': "One revision sent to a gateway: the document, who sent it, and the gateway's answer."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GatewayConfigRunning',
            fields=[
                ('gateway_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=63)),
                ('revision', fields.IntField(null=True)),
                ('reported_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'gateway_config_running', 'app': 'models', 'pk_attr': 'gateway_id', 'table_description': "The revision a gateway last said (in its telemetry) that it runs (null: its config file's own)."},
            bases=['Model'],
        ),
    ]
