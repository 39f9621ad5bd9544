"""0012: the gateways' recent telemetry for the fleet view (issue 20, server/telemetry_models.py), as `tortoise makemigrations` writes it."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_skp')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GatewayTelemetrySample',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('gateway_id', fields.CharField(max_length=63)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('version', fields.CharField(max_length=64)),
                ('uptime_s', fields.FloatField()),
                ('queued_punches', fields.IntField()),
                ('relayed_punches', fields.BigIntField(default=0)),
                ('clock_offset_s', fields.FloatField()),
                ('tls', fields.BooleanField(null=True)),
                ('tls_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'gateway_telemetry_sample', 'app': 'models', 'indexes': [Index(fields=['gateway_id', 'received_at'])], 'pk_attr': 'id', 'table_description': "One telemetry report as received: `clock_offset_s` is the gateway's clock at sending minus the centre's"},
            bases=['Model'],
        ),
    ]
