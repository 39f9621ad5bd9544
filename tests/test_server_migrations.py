"""Schema migrations by tortoise's own tool, on both databases.

A fresh database gets every model's table from the migrations (nothing is left to generate_schemas); a
second run changes nothing; a database made by the hand-written SQL of before (tests/fixtures/legacy_schema:
the old 0001-0004 files and the DDL generate_schemas ran after them, both as main made them) is upgraded
in place with every row kept and ends with the very schema a fresh database has; two replicas migrating
one PostgreSQL database at the same moment are serialised.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tortoise import Tortoise, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.models import Model

from server.db import (
    APP,
    MIGRATION_TABLE,
    close_database,
    dialect_of,
    migrate_schema,
    open_database,
    tortoise_config_for,
)
from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.empty_database  # these tests make, adopt and migrate databases themselves

REPO = Path(__file__).resolve().parent.parent
LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy_schema"
# The migrations after the initial one and the tables they create: a legacy database has none of these.
LATER_MIGRATIONS = [
    "0002_gateway_enrolment",
    "0003_stale_unit_month",
    "0004_gateway_config",
    "0005_requests",
    "0006_punch_partitions",
    "0007_employee_history",
    "0008_objections",
    "0009_scheduled_changes",
    "0010_appraisal",
    "0011_skp",
    "0012_gateway_telemetry_history",
    "0013_time_partitions",
    "0014_explain_as_text",
    "0015_employee_unit_index",
]


# --- what a database looks like -----------------------------------------------------------------------


async def schema_of(connection: BaseDBAsyncClient, dialect: str) -> dict[str, Any]:
    """Tables with their columns (type, nullability), keys, indexes and foreign keys: what must be equal."""
    if dialect == "postgres":
        return await _pg_schema(connection)
    return await _sqlite_schema(connection)


async def _pg_schema(connection: BaseDBAsyncClient) -> dict[str, Any]:
    """The punch table's monthly partitions (migration 0006) are not tables of their own here: they are
    listed under "partitions" with their bounds; their keys and indexes are the parent's (another test)."""
    _, found = await connection.execute_query(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_class c"
        " WHERE c.relispartition AND c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace"
    )
    partitions = {row["relname"]: row["bound"] for row in found}
    _, columns = await connection.execute_query(
        "SELECT table_name, column_name, data_type, is_nullable, character_maximum_length FROM"
        " information_schema.columns WHERE table_schema = current_schema()"
    )
    _, constraints = await connection.execute_query(
        "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c"
        " JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema()"
    )
    _, indexes = await connection.execute_query(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    )
    tables: dict[str, set[tuple[Any, ...]]] = {}
    for row in columns:
        if row["table_name"] not in partitions:
            tables.setdefault(row["table_name"], set()).add(
                (row["column_name"], row["data_type"], row["is_nullable"], row["character_maximum_length"])
            )
    return {
        "tables": tables,
        "partitions": set(partitions.items()),
        "constraints": {
            (row["tbl"], row["conname"], row["def"]) for row in constraints if row["tbl"] not in partitions
        },
        "indexes": {
            (row["tablename"], row["indexname"], row["indexdef"])
            for row in indexes
            if row["tablename"] not in partitions
        },
    }


async def _sqlite_schema(connection: BaseDBAsyncClient) -> dict[str, Any]:
    _, rows = await connection.execute_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    tables: dict[str, set[tuple[Any, ...]]] = {}
    indexes: set[tuple[Any, ...]] = set()
    foreign_keys: set[tuple[Any, ...]] = set()
    for name in (row["name"] for row in rows):
        _, info = await connection.execute_query(f'PRAGMA table_info("{name}")')
        tables[name] = {(col["name"], col["type"].upper(), col["notnull"], col["pk"]) for col in info}
        _, index_list = await connection.execute_query(f'PRAGMA index_list("{name}")')
        for index in index_list:
            _, index_columns = await connection.execute_query(f'PRAGMA index_info("{index["name"]}")')
            columns = tuple(col["name"] for col in index_columns)
            # A unique key's SQLite name is generated (sqlite_autoindex_...): what it covers is what counts.
            label = "" if index["unique"] else index["name"]
            indexes.add((name, columns, index["unique"], index["partial"], label))
        _, fks = await connection.execute_query(f'PRAGMA foreign_key_list("{name}")')
        foreign_keys |= {(name, fk["from"], fk["table"], fk["to"], fk["on_delete"]) for fk in fks}
    return {"tables": tables, "indexes": indexes, "foreign_keys": foreign_keys}


def model_tables() -> dict[str, set[str]]:
    """Every model's table and its columns, as the models describe them."""
    return {
        model._meta.db_table: set(model._meta.fields_db_projection.values()) for model in Tortoise.apps[APP].values()
    }


async def rows_of(connection: BaseDBAsyncClient, tables: list[str]) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for table in tables:
        rows = await connection.execute_query_dict(f'SELECT * FROM "{table}"')
        found[table] = sorted((dict(row) for row in rows), key=repr)
    return found


# --- databases for a test ------------------------------------------------------------------------------


@asynccontextmanager
async def another_database(db_url: str, tmp_path: Path, label: str) -> AsyncIterator[str]:
    """One more fresh database of the same dialect (the fixture gives one)."""
    if dialect_of(db_url) == "sqlite":
        yield f"sqlite://{tmp_path / f'{label}.sqlite3'}"
        return
    import asyncpg

    name = f"kinerja_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield urlsplit(PG_ADMIN_URL)._replace(path=f"/{name}").geturl()
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def build_legacy_database(connection: BaseDBAsyncClient, dialect: str) -> None:
    """What main did on every start: the versioned SQL in one transaction, recorded in schema_migration
    (statements split at ';' ending a line), then generate_schemas(safe=True) run as one script."""
    placeholders = "$1, $2, $3" if dialect == "postgres" else "?, ?, ?"
    await connection.execute_query(
        'CREATE TABLE IF NOT EXISTS "schema_migration" ('
        '"version" INT NOT NULL PRIMARY KEY, "name" VARCHAR(200) NOT NULL, "applied_at" VARCHAR(40) NOT NULL)'
    )
    for path in sorted((LEGACY / dialect).glob("000*.sql")):
        text = path.read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
        for statement in "\n".join(lines).split(";\n"):
            if statement.strip().rstrip(";").strip():
                await connection.execute_query(statement.strip())
        version, _, name = path.stem.partition("_")
        await connection.execute_query(
            f'INSERT INTO "schema_migration" ("version", "name", "applied_at") VALUES ({placeholders})',
            [int(version), name, datetime.now(UTC).isoformat()],
        )
    await connection.execute_script((LEGACY / dialect / "generate_schemas.sql").read_text(encoding="utf-8"))


def _value_for(field: fields.Field, related: dict[type[Model], Any]) -> Any:
    if field.reference is not None:  # the column of a foreign key: the referenced row's key
        target = field.reference.related_model
        return related.get(target)
    if getattr(field, "enum_type", None) is not None:
        return next(iter(field.enum_type)).value
    if isinstance(field, fields.CharField):
        return f"v-{field.model_field_name}"[: field.max_length]
    if isinstance(field, fields.TextField):
        return "teks; with a semicolon"
    if isinstance(field, fields.BooleanField):
        return True
    if isinstance(field, fields.SmallIntField | fields.IntField | fields.BigIntField):
        return 7
    if isinstance(field, fields.FloatField):
        return 1.5
    if isinstance(field, fields.DatetimeField):
        return datetime(2026, 3, 4, 1, 2, 3, tzinfo=UTC)
    if isinstance(field, fields.DateField):
        return date(2026, 3, 4)
    if isinstance(field, fields.JSONField):
        return {"k": [1, 2]}
    if isinstance(field, fields.BinaryField):
        return b"\x00\x01bin"
    raise AssertionError(f"no sample value for {type(field).__name__}: extend _value_for")


# Tables that migrations after 0001_initial create: the release before tortoise's migrations never had them,
# so a legacy database has neither the table nor the signals of this release that write to it (stale marks).
NEWER_THAN_LEGACY = frozenset(
    {
        "gateway_enrolment",
        "stale_unit_month",
        "gateway_config_revision",
        "gateway_config_running",
        "employee_request",
        "request_evidence",
        "corrected_punch",
        "employee_assignment",
        "unit_go_live",
        "objection",
        "scheduled_change",
        "appraisal_feedback",
        "appraisal_behaviour",
        "appraisal_rating",
        "organisation_rating",
        "skp_organisation_target",
        "skp_work_plan",
        "skp_planned_result",
        "skp_indicator",
        "skp_activity_link",
        "gateway_telemetry_sample",
    }
)

# Punches a legacy PostgreSQL database holds beside the sample row (whose month is 2026-03): one of this
# month, one whose clock was reset to 2000 and one of a month the partition schedule never reaches. After
# 0006 each is in its month's partition, the last two in the default one.
LEGACY_PUNCHES = {
    "p-now": None,  # now
    "p-2026-01": datetime(2026, 1, 31, 23, 30, tzinfo=UTC),  # 06:30 WIB on 1 February
    "p-reset": datetime(2000, 1, 1, 0, 0, tzinfo=UTC),
    "p-far": datetime(2040, 6, 1, 1, 0, tzinfo=UTC),
}


async def insert_legacy_punches(connection: BaseDBAsyncClient) -> None:
    for pin, moment in LEGACY_PUNCHES.items():
        await connection.execute_query(
            'INSERT INTO "punch" ("device_serial", "pin", "punched_at", "utc_offset_minutes", "state", "verify",'
            ' "unit_code", "gateway_id", "batch_id", "received_at") VALUES'
            " ('DEV9', $1, $2, 420, 0, 1, 'unit-legacy', 'gw-legacy', 'b-legacy', now())",
            [pin, moment or datetime.now(UTC)],
        )


async def partition_of_each_punch(connection: BaseDBAsyncClient) -> dict[str, str]:
    _, rows = await connection.execute_query('SELECT "pin", tableoid::regclass::text AS part FROM "punch"')
    return {row["pin"]: row["part"] for row in rows}


async def insert_legacy_audit_and_claims(connection: BaseDBAsyncClient) -> None:
    """Audit entries and activity claims at the legacy punches' moments (0012 partitions both tables)."""
    for label, moment in LEGACY_PUNCHES.items():
        await connection.execute_query(
            'INSERT INTO "audit_entry" ("at", "username", "role", "action", "target", "detail")'
            " VALUES ($1, 'budi', 'admin', 'legacy', $2, '{}')",
            [moment or datetime.now(UTC), label],
        )
        await connection.execute_query(
            'INSERT INTO "activity_claim" ("claim_id", "nip", "unit_code", "activity", "activity_name", "start",'
            ' "quantity", "minutes", "output", "evidence", "state", "reason", "created_at") VALUES'
            " ($1, '199001012020011001', 'unit-legacy', 'a', 'A', $2, 1, 30, '', '', 'approved', '', now())",
            [label, moment or datetime.now(UTC)],
        )


async def partition_of_each_row(connection: BaseDBAsyncClient, table: str, key: str) -> dict[str, str]:
    _, rows = await connection.execute_query(f'SELECT "{key}" AS key, tableoid::regclass::text AS part FROM "{table}"')
    return {row["key"]: row["part"] for row in rows}


@contextmanager
def signals_of_the_old_release() -> Iterator[None]:
    """No post-save signals while the legacy rows are written: the old release had none."""
    saved = {signal: dict(listeners) for signal, listeners in Model._listeners.items()}
    for listeners in Model._listeners.values():
        listeners.clear()
    try:
        yield
    finally:
        for signal, listeners in saved.items():
            Model._listeners[signal].update(listeners)


async def insert_a_row_everywhere(skip: frozenset[str] = frozenset()) -> None:
    """One row in every model's table (but ``skip``), referenced rows first (self-references left empty)."""
    models = [model for model in Tortoise.apps[APP].values() if model._meta.db_table not in skip]
    keys: dict[type[Model], Any] = {}
    while len(keys) < len(models):
        progressed = False
        for model in models:
            if model in keys:
                continue
            meta = model._meta
            sources = [meta.fields_map[name] for name in meta.fields_db_projection]
            needs = {f.reference.related_model for f in sources if f.reference is not None and not f.null}
            if not needs <= set(keys):
                continue
            values = {
                f.model_field_name: _value_for(f, keys)
                for f in sources
                if not (f.pk and getattr(f, "generated", False))
            }
            row = await model.create(**values)
            keys[model] = row.pk
            progressed = True
        assert progressed, "foreign keys in a circle: cannot order the sample rows"


# --- the tests -----------------------------------------------------------------------------------------


async def test_a_fresh_database_gets_every_model_table_from_the_migrations_and_a_second_run_is_a_no_op(
    db_url: str,
) -> None:
    dialect = dialect_of(db_url)
    context = await open_database(db_url, create_schema=False)
    try:
        connection = Tortoise.get_connection(dialect)
        applied = await migrate_schema(dialect)
        assert applied[0] == "0001_initial" and "(adopted)" not in " ".join(applied)
        schema = await schema_of(connection, dialect)
        for table, columns in model_tables().items():
            assert table in schema["tables"], f"no migration creates {table}"
            assert {column[0] for column in schema["tables"][table]} == columns, table
        assert set(schema["tables"]) == set(model_tables()) | {MIGRATION_TABLE}
        # The lean punch indexes (the old 0002): the partial one, and no index on unit_code alone.
        punch_indexes = {row[1] if dialect == "postgres" else row[4] for row in schema["indexes"] if row[0] == "punch"}
        assert "idx_punch_unmapped" in punch_indexes and "idx_punch_unit_co_9e0230" not in punch_indexes
        if dialect == "postgres":  # 0006: by month, with a default partition (tests/test_punch_partitions.py)
            names = {name for name, _ in schema["partitions"]}
            for table in ("punch", "audit_entry", "activity_claim", "corrected_punch"):  # 0012: the last three
                assert f"{table}_default" in names and len({n for n in names if n.startswith(f"{table}_")}) == 6
        assert await migrate_schema(dialect) == []
        assert await schema_of(connection, dialect) == schema
        # Models and migrations agree: a model changed without `makemigrations` fails here.
        detector = MigrationAutodetector(Tortoise.apps, {APP: tortoise_config_for(dialect)})
        assert await detector.changes() == []
    finally:
        await close_database(context)


async def test_a_database_made_by_the_hand_written_sql_is_upgraded_in_place_with_every_row_kept(
    db_url: str, tmp_path: Path
) -> None:
    dialect = dialect_of(db_url)
    context = await open_database(db_url, create_schema=False)
    try:
        connection = Tortoise.get_connection(dialect)
        await build_legacy_database(connection, dialect)
        with signals_of_the_old_release():
            await insert_a_row_everywhere(NEWER_THAN_LEGACY)
        if dialect == "postgres":
            await insert_legacy_punches(connection)
            await insert_legacy_audit_and_claims(connection)
        tables = sorted(set(model_tables()) - NEWER_THAN_LEGACY)
        before = await rows_of(connection, tables)
        assert all(before[table] for table in tables), "a table without a sample row"
        applied = await migrate_schema(dialect)
        # 0001 adopted (recorded, not run), then every later migration applied as on any database.
        assert applied == ["0001_initial (adopted)", *LATER_MIGRATIONS]
        assert await rows_of(connection, tables) == before  # ids, keys and every value of the punches kept
        if dialect == "postgres":
            this_month = f"punch_{datetime.now(UTC) + timedelta(hours=7):%Y_%m}"
            assert await partition_of_each_punch(connection) == {
                "v-pin": "punch_2026_03", "p-now": this_month, "p-2026-01": "punch_2026_02",
                "p-reset": "punch_default", "p-far": "punch_default",
            }  # fmt: skip
            # 0012: the audit trail and the claims likewise (the sample rows are of 2026-03).
            month_now = this_month.removeprefix("punch_")
            assert await partition_of_each_row(connection, "audit_entry", "target") == {
                "v-target": "audit_entry_2026_03", "p-now": f"audit_entry_{month_now}",
                "p-2026-01": "audit_entry_2026_02", "p-reset": "audit_entry_default", "p-far": "audit_entry_default",
            }  # fmt: skip
            assert await partition_of_each_row(connection, "activity_claim", "claim_id") == {
                "v-claim_id": "activity_claim_2026_03", "p-now": f"activity_claim_{month_now}",
                "p-2026-01": "activity_claim_2026_02", "p-reset": "activity_claim_default",
                "p-far": "activity_claim_default",
            }  # fmt: skip
            # The id sequence goes on where the old table's stopped: a new punch collides with none.
            await connection.execute_query(
                'INSERT INTO "punch" ("device_serial", "pin", "punched_at", "utc_offset_minutes", "state",'
                ' "verify", "unit_code", "gateway_id", "batch_id", "received_at")'
                " VALUES ('DEV9', 'p-new', now(), 420, 0, 1, 'unit-legacy', 'gw-legacy', 'b-new', now())"
            )
            _, ids = await connection.execute_query('SELECT "pin", "id" FROM "punch"')
            by_pin = {row["pin"]: row["id"] for row in ids}
            assert by_pin["p-new"] > max(v for k, v in by_pin.items() if k != "p-new")
            await connection.execute_query('DELETE FROM "punch" WHERE "pin" = \'p-new\'')
        upgraded = await schema_of(connection, dialect)
        assert await migrate_schema(dialect) == []
        _, legacy_rows = await connection.execute_query('SELECT "version" FROM "schema_migration"')
        assert sorted(row["version"] for row in legacy_rows) == [1, 2, 3, 4]  # the old history is kept
    finally:
        await close_database(context)
    async with another_database(db_url, tmp_path, "fresh") as fresh_url:
        context = await open_database(fresh_url)
        try:
            fresh = await schema_of(Tortoise.get_connection(dialect), dialect)
        finally:
            await close_database(context)
    upgraded["tables"].pop("schema_migration")
    if dialect == "postgres":
        upgraded["constraints"] = {c for c in upgraded["constraints"] if c[0] != "schema_migration"}
        upgraded["indexes"] = {i for i in upgraded["indexes"] if i[0] != "schema_migration"}
    else:
        upgraded["indexes"] = {i for i in upgraded["indexes"] if i[0] != "schema_migration"}
    if dialect == "postgres":
        # The months the old rows had get their partitions beside the schedule's; the rest is the same.
        extra = {name for name, _ in upgraded["partitions"] - fresh["partitions"]}
        had_rows = {
            f"{table}_{month}"
            for table in ("punch", "audit_entry", "activity_claim")
            for month in ("2026_02", "2026_03")
        }
        assert extra == had_rows - {name for name, _ in fresh["partitions"]}
        assert fresh["partitions"] <= upgraded["partitions"]
        upgraded["partitions"] = fresh["partitions"]
    for part in fresh:
        assert upgraded[part] == fresh[part], part


async def test_a_legacy_database_missing_a_newer_module_table_gets_it_created(db_url: str) -> None:
    dialect = dialect_of(db_url)
    context = await open_database(db_url, create_schema=False)
    try:
        connection = Tortoise.get_connection(dialect)
        await build_legacy_database(connection, dialect)
        await connection.execute_query('DROP TABLE "device_sync_command"')  # as if made before issue 18
        assert (await migrate_schema(dialect))[0] == "0001_initial (adopted)"
        assert "device_sync_command" in (await schema_of(connection, dialect))["tables"]
    finally:
        await close_database(context)


# An explanation as the scoring writes them, with what JSON can trip on: text beyond ASCII, nesting, nulls,
# numbers of each kind, empty containers and a key that jsonb would move (it orders keys by length).
EXPLANATION = {
    "policy": {"name": "Perpres 21/2023 – uji", "effective_from": "2026-01-01", "fingerprint": "ab" * 16},
    "days": [
        {"date": "2026-10-01", "status": "present", "codes": ["TL1"], "minutes": 435, "note": None},
        {"date": "2026-10-02", "status": "absent", "codes": [], "holiday": "Hari Kesaktian Pancasila \u2605"},
    ],
    "zzz_a_long_key_first": {"bp": -12_500, "rate": 0.0125, "ok": True, "nothing": {}, "none": []},
    "a": 'kutipan "dan" garis miring \\ baris\nbaru',
}


async def test_0014_keeps_every_stored_explanation_and_keeps_it_as_text_on_postgresql(db_url: str) -> None:
    """A result stored before 0014 (jsonb on PostgreSQL) reads back as the same dict after it; the column
    is text there (compressed with lz4), still JSON on SQLite; new rows go in and out alike."""
    from server.results_models import MonthlyScore

    dialect = dialect_of(db_url)
    context = await open_database(db_url, create_schema=False)
    try:
        connection = Tortoise.get_connection(dialect)
        assert (await migrate_schema(dialect, up_to="0013_time_partitions"))[-1] == "0013_time_partitions"
        if dialect == "postgres":
            assert await column_type(connection, "monthly_score", "explain") == ("jsonb", None)
        values = {
            "unit_code": "u1", "year": 2026, "month": 10, "policy_name": "p", "policy_effective_from": date(2026, 1, 1),
            "policy_fingerprint": "f" * 32, "planned_days": 22, "score_bp": 9_000, "allowance_deduction_bp": 0,
            "discipline_deduction_bp": 0, "performance_bp": 0, "discipline_bp": 0, "effective_minutes": 0,
            "target_minutes": 0, "codes": {"TL1": 1}, "digest": "d" * 64, "computed_at": datetime.now(UTC),
        }  # fmt: skip
        await MonthlyScore.create(nip="199001012020011001", explain=EXPLANATION, **values)
        assert (await migrate_schema(dialect))[0] == "0014_explain_as_text"
        old = await MonthlyScore.get(nip="199001012020011001")
        assert old.explain == EXPLANATION and old.digest == "d" * 64 and old.codes == {"TL1": 1}
        assert await MonthlyScore.filter(nip=old.nip).values_list("explain", flat=True) == [EXPLANATION]
        await MonthlyScore.create(nip="199001012020011002", explain=EXPLANATION, **values)
        assert (await MonthlyScore.get(nip="199001012020011002")).explain == EXPLANATION
        if dialect == "postgres":
            assert await column_type(connection, "monthly_score", "explain") == ("text", "l")
            _, rows = await connection.execute_query('SELECT "explain" FROM "monthly_score" ORDER BY "nip"')
            assert [json.loads(row["explain"]) for row in rows] == [EXPLANATION, EXPLANATION]
        else:
            _, rows = await connection.execute_query(
                "SELECT type FROM pragma_table_info('monthly_score') WHERE name = 'explain'"
            )
            assert rows[0]["type"] == "JSON"
        assert await migrate_schema(dialect) == []
    finally:
        await close_database(context)


async def test_0015_indexes_the_employees_unit_the_scoring_lists_each_unit_month_by(db_url: str) -> None:
    dialect = dialect_of(db_url)
    context = await open_database(db_url)
    try:
        connection = Tortoise.get_connection(dialect)
        if dialect == "postgres":
            _, rows = await connection.execute_query("SELECT indexdef FROM pg_indexes WHERE tablename = 'employee'")
            assert any(row["indexdef"].endswith("(unit_id)") for row in rows), rows
        else:
            _, rows = await connection.execute_query(
                "SELECT i.name FROM pragma_index_list('employee') i, pragma_index_info(i.name) c"
                " WHERE c.name = 'unit_id'"
            )
            assert rows, "no index on employee.unit_id"
    finally:
        await close_database(context)


async def column_type(connection: BaseDBAsyncClient, table: str, column: str) -> tuple[str, str | None]:
    """PostgreSQL: a column's type and its compression method ('l' lz4, 'p' pglz, None the default)."""
    _, rows = await connection.execute_query(
        "SELECT format_type(atttypid, atttypmod) AS type, nullif(attcompression::text, '') AS compression"
        " FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2",
        [table, column],
    )
    return rows[0]["type"], rows[0]["compression"]


async def test_two_replicas_migrating_one_postgresql_database_at_once_are_serialised(postgres_url: str) -> None:
    env = {**os.environ, "KINERJA_DB_URL": postgres_url}
    runs = [
        await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "kinerja"),
            "server",
            "migrate",
            env=env,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [await run.communicate() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    assert all(b"schema is up to date" in out for out, _ in results)
    context = await open_database(postgres_url, create_schema=False)
    try:
        connection = Tortoise.get_connection("postgres")
        _, rows = await connection.execute_query(f'SELECT "app", "name" FROM "{MIGRATION_TABLE}"')
        names = [row["name"] for row in rows]
        assert names.count("0001_initial") == 1 and len(names) == len(set(names))
        assert await migrate_schema("postgres") == []
    finally:
        await close_database(context)


def test_no_model_description_holds_a_semicolon() -> None:
    """tortoise splits SQLite DDL at every ';' while migrating in a transaction, comments included: a model
    docstring or field description with one breaks the CREATE TABLE it becomes a comment of."""
    import importlib

    from server.db import MODELS

    found = []
    for module_name in MODELS["models"]:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, Model) and value.__module__ == module_name):
                continue
            texts = [value._meta.table_description or "", value.__doc__ or ""]
            texts += [field.description or "" for field in value._meta.fields_map.values()]
            found += [f"{module_name}.{value.__name__}: {text!r}" for text in texts if ";" in text]
    assert found == []


def test_nothing_calls_generate_schemas_at_run_time() -> None:
    offenders = []
    for folder in ("server", "kinerja", "gateway", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name == Path(__file__).name:
                continue
            if "generate_schemas(" in path.read_text(encoding="utf-8"):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
