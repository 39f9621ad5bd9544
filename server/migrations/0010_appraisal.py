"""0010: the periodic appraisal — feedback dialogue, BerAKHLAK behaviour ratings, ratings with their
predicate, and units' organisation ratings (issue 17, server/appraisal_models.py)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_scheduled_changes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AppraisalFeedback',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('nip', fields.CharField(db_index=True, max_length=18)),
                ('year', fields.SmallIntField()),
                ('period', fields.CharField(max_length=8)),
                ('author_nip', fields.CharField(max_length=18)),
                ('author_role', fields.CharField(max_length=16)),
                ('body', fields.TextField(unique=False)),
                ('written_by', fields.CharField(max_length=64)),
                ('written_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'appraisal_feedback', 'app': 'models', 'indexes': [Index(fields=['nip', 'period'])], 'pk_attr': 'id', 'table_description': "One message of the performance dialogue on ``nip``'s period: the superior's feedback or the"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BehaviourRatingRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('nip', fields.CharField(db_index=True, max_length=18)),
                ('year', fields.SmallIntField()),
                ('period', fields.CharField(max_length=8)),
                ('rater_nip', fields.CharField(max_length=18)),
                ('rater_role', fields.CharField(max_length=16)),
                ('core_value', fields.CharField(max_length=32)),
                ('rating', fields.CharField(max_length=24)),
                ('note', fields.CharField(default='', max_length=500)),
                ('recorded_by', fields.CharField(max_length=64)),
                ('recorded_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'appraisal_behaviour', 'app': 'models', 'unique_together': (('nip', 'period', 'rater_nip', 'core_value'),), 'pk_attr': 'id', 'table_description': 'One rater\'s rating of one BerAKHLAK core value of ``nip`` for a period, with its evidence note.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AppraisalRating',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('nip', fields.CharField(db_index=True, max_length=18)),
                ('unit_code', fields.CharField(db_index=True, max_length=63)),
                ('year', fields.SmallIntField()),
                ('period', fields.CharField(max_length=8)),
                ('work_result', fields.CharField(max_length=24)),
                ('behaviour', fields.CharField(max_length=24)),
                ('behaviour_points', fields.CharField(default='', max_length=8)),
                ('predicate', fields.CharField(max_length=24)),
                ('policy', fields.CharField(default='', max_length=100)),
                ('rated_by', fields.CharField(max_length=64)),
                ('rated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('final_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('final_by', fields.CharField(null=True, max_length=64)),
            ],
            options={'table': 'appraisal_rating', 'app': 'models', 'unique_together': (('nip', 'period'),), 'indexes': [Index(fields=['unit_code', 'period'])], 'pk_attr': 'id', 'table_description': "``nip``'s rating for a period in ``unit_code`` (their unit then): the superior's work-result rating,"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrganisationRatingRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('unit_code', fields.CharField(max_length=63)),
                ('year', fields.SmallIntField()),
                ('rating', fields.CharField(max_length=24)),
                ('set_by', fields.CharField(max_length=64)),
                ('set_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'organisation_rating', 'app': 'models', 'unique_together': (('unit_code', 'year'),), 'pk_attr': 'id', 'table_description': "The unit's own performance rating for a year, set by the bureau: it bounds the distribution of its"},
            bases=['Model'],
        ),
    ]
