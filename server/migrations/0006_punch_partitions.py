"""0006: on PostgreSQL the punch table becomes partitioned by month (issue 19, server/partitions.py).

The existing table is converted with its rows: each lands in its month's partition (or the default one),
ids, keys and index names kept. Months get partitions for the schedule around now (the month before,
this one and three ahead) and for every plausible month that holds rows. SQLite keeps one plain table:
the operation does nothing there. Written by hand (RunPython): tortoise's operations cannot say
PARTITION BY, and its RunSQL runs on every dialect alike; the models and their state are unchanged.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor import BaseSchemaEditor


async def partition_punches(apps: object, editor: BaseSchemaEditor) -> None:
    if editor.DIALECT != "postgres":
        return
    from server.partitions import partition_existing_table

    await partition_existing_table(editor.client)


class Migration(migrations.Migration):
    dependencies = [('models', '0005_requests')]

    initial = False

    operations = [
        ops.RunPython(partition_punches),
    ]
