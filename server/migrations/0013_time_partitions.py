"""0013: on PostgreSQL the other tables that grow with time become partitioned by month, as 0006 made punch
(issue 19, server/partitions.py): the audit trail (`audit_entry` by `at`), the activity claims
(`activity_claim` by `start`) and the corrected punches (`corrected_punch` by `punched_at`).

Each existing table is converted with its rows: each lands in its month's partition (or the default one),
ids, keys, foreign keys and index names kept; the primary key gains the partition column. SQLite keeps
plain tables: the operation does nothing there. Written by hand (RunPython) for the reasons 0006 gives;
the models and their state are unchanged.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor import BaseSchemaEditor

TABLES = ("audit_entry", "activity_claim", "corrected_punch")


async def partition_tables_growing_with_time(apps: object, editor: BaseSchemaEditor) -> None:
    if editor.DIALECT != "postgres":
        return
    from server.partitions import partition_existing_table

    for table in TABLES:
        await partition_existing_table(editor.client, table=table)


class Migration(migrations.Migration):
    dependencies = [('models', '0012_gateway_telemetry_history')]

    initial = False

    operations = [
        ops.RunPython(partition_tables_growing_with_time),
    ]
