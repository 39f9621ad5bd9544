"""0014: on PostgreSQL a monthly result's explanation (`monthly_score.explain`) is kept as text, not jsonb, and
compressed with lz4 where the server has it (issue 19; server/db_fields.py says why).

The month-end run writes a ~15 KB explanation per employee; PostgreSQL parsed each into jsonb and
compressed it with pglz on the same cores the scoring workers need, and printed it back to text for
every page that read it. The column now holds the text as sent. The conversion keeps every row's
explanation (jsonb's own text of it: the same JSON, the keys in jsonb's order, as readers already got
them); their digests are untouched, so no row is rewritten by the next run for this. Rows converted keep
pglz until they are rewritten; new ones are lz4.

SQLite stores JSON as text already: there the operation only updates the migration state (tortoise's
AlterField would rebuild the table for nothing). `monthly_score` is not partitioned (server/partitions.py
TABLES); were it, the ALTER on the parent would reach every partition. A later AlterField of this column
on PostgreSQL resets its compression to the default: set it again there.
"""

import functools
from json import dumps, loads

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

from server.db_fields import JSONTextField


class AlterFieldOnPostgres(ops.AlterField):
    """tortoise's AlterField, run against PostgreSQL only (the state changes on every database)."""

    async def database_forward(
        self, app_label: str, old_state: State, new_state: State, state_editor: BaseSchemaEditor | None = None
    ) -> None:
        if state_editor is not None and state_editor.DIALECT == "postgres":
            await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(
        self, app_label: str, old_state: State, new_state: State, state_editor: BaseSchemaEditor | None = None
    ) -> None:
        if state_editor is not None and state_editor.DIALECT == "postgres":
            await super().database_backward(app_label, old_state, new_state, state_editor)


async def compress_explanations_with_lz4(apps: object, editor: BaseSchemaEditor) -> None:
    """lz4 (PostgreSQL 14+, when built with it): several times cheaper to compress than pglz, a little bigger."""
    if editor.DIALECT != "postgres":
        return
    _, rows = await editor.client.execute_query(
        "SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    if rows and rows[0]["lz4"]:
        await editor.client.execute_query('ALTER TABLE "monthly_score" ALTER COLUMN "explain" SET COMPRESSION lz4')


class Migration(migrations.Migration):
    dependencies = [('models', '0013_time_partitions')]

    initial = False

    operations = [
        AlterFieldOnPostgres(
            model_name='MonthlyScore',
            name='explain',
            field=JSONTextField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.RunPython(compress_explanations_with_lz4),
    ]
