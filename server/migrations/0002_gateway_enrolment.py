"""0002: the gateway enrolment codes (issue 20, server/gateway_enrolment_models.py), by `tortoise makemigrations`."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GatewayEnrolment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('gateway_id', fields.CharField(db_index=True, max_length=63)),
                ('unit_code', fields.CharField(max_length=63)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('timezone', fields.CharField(default='WIB', max_length=4)),
                ('devices', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_by', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_from', fields.CharField(null=True, max_length=64)),
                ('broker_login', fields.CharField(null=True, max_length=16)),
                ('passwd_line', fields.CharField(null=True, max_length=300)),
            ],
            options={'table': 'gateway_enrolment', 'app': 'models', 'pk_attr': 'id', 'table_description': "One code issued for a gateway. `used_at` set: spent. Only the code's digest is kept."},
            bases=['Model'],
        ),
    ]
