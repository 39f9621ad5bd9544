"""Schema migrations on both databases: applied in order once, recorded, and a second run changes nothing."""

from __future__ import annotations

from tortoise import Tortoise

from server.db import close_database, dialect_of, migrate_schema, migrations_for, open_database


async def test_migrations_apply_once_in_order_and_leave_the_schema_the_models_expect(db_url: str):
    dialect = dialect_of(db_url)
    versions = [m.version for m in migrations_for(dialect)]
    assert versions == sorted(versions) and versions[:2] == [1, 2]
    assert [m.version for m in migrations_for("sqlite")] == [m.version for m in migrations_for("postgres")]
    context = await open_database(db_url, create_schema=False)
    try:
        applied = await migrate_schema(dialect)
        assert [int(name[:4]) for name in applied] == versions
        assert await migrate_schema(dialect) == []
        connection = Tortoise.get_connection(dialect)
        _, rows = await connection.execute_query('SELECT "version" FROM "schema_migration" ORDER BY "version"')
        assert [row["version"] for row in rows] == versions
        # 0002 dropped the redundant index and generate_schemas (for other modules' models) did not bring it back.
        if dialect == "postgres":
            _, rows = await connection.execute_query("SELECT indexname FROM pg_indexes WHERE tablename = 'punch'")
        else:
            _, rows = await connection.execute_query(
                "SELECT name AS indexname FROM sqlite_master WHERE tbl_name = 'punch'"
            )
        names = {row["indexname"] for row in rows}
        assert "idx_punch_unmapped" in names and "idx_punch_unit_co_9e0230" not in names
    finally:
        await close_database(context)
