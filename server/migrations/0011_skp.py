"""0011: work plans (SKP) that cascade and the organisation targets above them (issue 17, server/skp_models.py), by `tortoise makemigrations`."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_appraisal')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OrganisationTargetRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('unit_code', fields.CharField(db_index=True, max_length=63)),
                ('year', fields.SmallIntField()),
                ('code', fields.CharField(max_length=32)),
                ('text', fields.CharField(max_length=500)),
                ('kind', fields.CharField(default='rkakl_output', max_length=24)),
                ('created_by', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'skp_organisation_target', 'app': 'models', 'unique_together': (('unit_code', 'year', 'code'),), 'pk_attr': 'id', 'table_description': "An RKAKL output or organisational goal of a unit for a year, at the top of the unit's cascade,"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WorkPlanRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('nip', fields.CharField(db_index=True, max_length=18)),
                ('unit_code', fields.CharField(db_index=True, max_length=63)),
                ('year', fields.SmallIntField()),
                ('version', fields.SmallIntField(default=1)),
                ('state', fields.CharField(default='draft', max_length=16)),
                ('review', fields.CharField(default='quarterly', max_length=16)),
                ('superior_nip', fields.CharField(null=True, max_length=18)),
                ('submitted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('agreed_by', fields.CharField(null=True, max_length=64)),
                ('agreed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('superseded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'skp_work_plan', 'app': 'models', 'unique_together': (('nip', 'year', 'version'),), 'pk_attr': 'id', 'table_description': "One version of an employee's yearly plan. `state` is scoring.PlanState (draft, agreed). The newest"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ActivityLinkRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('plan', fields.ForeignKeyField('models.WorkPlanRecord', source_field='plan_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.CASCADE)),
                ('activity', fields.CharField(max_length=64)),
                ('rhk_code', fields.CharField(max_length=16)),
                ('indicator_code', fields.CharField(max_length=16)),
            ],
            options={'table': 'skp_activity_link', 'app': 'models', 'unique_together': (('plan', 'activity'),), 'pk_attr': 'id', 'table_description': 'A catalogue activity whose approved claims realise one indicator of the plan version, chosen by the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PlannedResultRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('plan', fields.ForeignKeyField('models.WorkPlanRecord', source_field='plan_id', db_constraint=True, to_field='id', related_name='results', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=16)),
                ('text', fields.CharField(max_length=500)),
                ('parent_code', fields.CharField(null=True, max_length=32)),
                ('position', fields.SmallIntField(default=0)),
            ],
            options={'table': 'skp_planned_result', 'app': 'models', 'unique_together': (('plan', 'code'),), 'pk_attr': 'id', 'table_description': "An RHK of one plan version. `parent_code` is the superior's RHK code (or the organisation target's"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IndicatorRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('result', fields.ForeignKeyField('models.PlannedResultRecord', source_field='result_id', db_constraint=True, to_field='id', related_name='indicators', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=16)),
                ('text', fields.CharField(max_length=500)),
                ('aspect', fields.CharField(default='kuantitas', max_length=16)),
                ('target', fields.IntField()),
                ('unit', fields.CharField(default='', max_length=64)),
                ('higher_is_better', fields.BooleanField(default=True)),
            ],
            options={'table': 'skp_indicator', 'app': 'models', 'unique_together': (('result', 'code'),), 'pk_attr': 'id', 'table_description': 'An indicator of an RHK: `aspect` is scoring.IndicatorAspect, `target` a whole quantity of `unit`.'},
            bases=['Model'],
        ),
    ]
