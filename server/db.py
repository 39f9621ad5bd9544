"""Opening and closing the database, and migrating its schema with tortoise's own migrations.

Every table is created and changed by the migrations in server/migrations (one set for SQLite and
PostgreSQL alike: tortoise writes each operation's DDL for the dialect at hand), recorded in tortoise's
table `tortoise_migrations`. A model change gets its migration from `tortoise -c server.db.TORTOISE_ORM
makemigrations` (docs/server.md). What the models cannot say (the punch table's partial index) is RunSQL
inside a migration, so the tool still owns every table; nothing calls generate_schemas.

All of a run happens in one transaction: a failed migration leaves the schema as it was. On PostgreSQL
an advisory lock taken first serialises replicas that migrate at the same moment; the second finds the
work done.

Databases made before (hand-written SQL 0001-0004 recorded in `schema_migration`, the other modules'
tables from generate_schemas) are adopted in place, not rebuilt. Detected by `schema_migration` present
and `tortoise_migrations` absent, the old state is first verified (all four legacy versions applied,
every table and column of 0001_initial present; tables of model modules newer than the database are
created), then its differences from what 0001_initial creates are made explicit by `_bridge_legacy`,
and 0001_initial is recorded as applied (later migrations then run as usual). Marking it applied, rather
than replaying it, is the choice because the legacy tables hold the production rows: 0001 would have to
drop or copy them, while the verified schema already has every table, column, key and lean index 0001
creates. The bridge only renames the unique keys to the names tortoise derives (so a later generated
migration that drops or alters one finds it) and drops the one index generate_schemas duplicated;
column types, keys and rows are untouched. `schema_migration` is kept, as the record of the old history.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tortoise.backends.sqlite.executor  # noqa: F401  (registers its adapters first; ours below replaces one)
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget
from tortoise.migrations.graph import MigrationKey
from tortoise.migrations.recorder import MigrationRecorder
from tortoise.migrations.schema_editor import BaseSchemaEditor
from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)


def _sqlite_moment(value: datetime) -> str:
    """A moment as SQLite keeps it: ISO text, always in UTC. SQLite compares the text, so a bound in an
    office's zone ("2026-12-05 00:00:00+07:00") against stored UTC ("2026-12-04 17:01:00+00:00") missed
    the first seven hours of a WIB day; tortoise's own adapter writes the offset as given."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ")


sqlite3.register_adapter(datetime, _sqlite_moment)

# Other server modules append their models module here (one entry each).
MODELS = {
    "models": [
        "server.models",
        "server.services.accounts",
        "server.results_models",
        "server.activity_models",
        "server.payroll_models",
    ]
}
MODELS["models"] += ["server.biometric_models", "server.area_models"]  # issue 18
MODELS["models"] += ["server.gateway_enrolment_models"]  # issue 20: enrolment codes
MODELS["models"] += ["server.stale_models"]  # issue 19
MODELS["models"] += ["server.gateway_config_models"]  # issue 20: configuration from the centre
MODELS["models"] += ["server.request_models"]  # issue 15: requests and approvals
MODELS["models"] += ["server.history_models"]  # issue 15: dated employee history
MODELS["models"] += ["server.objection_models"]  # issue 15: objections (keberatan)
MODELS["models"] += ["server.appraisal_models"]  # issue 17: feedback, behaviour, predicate
MODELS["models"] += ["server.skp_models"]  # issue 17: work plans (SKP) and organisation targets
MODELS["models"] += ["server.telemetry_models"]  # issue 20: the fleet view's telemetry history
APP = "models"
MIGRATIONS_MODULE = "server.migrations"
MIGRATION_TABLE = "tortoise_migrations"
INITIAL_MIGRATION = "0001_initial"

# Any fixed number: the key of the advisory lock replicas take while migrating.
_MIGRATION_LOCK_KEY = 0x4B494E45524A41

LEGACY_TABLE = "schema_migration"
LEGACY_VERSIONS = frozenset({1, 2, 3, 4})

# What a legacy database has that 0001_initial names or builds differently (see the module docstring).
# PostgreSQL: the unique keys get the names tortoise derives (a rename, no index is rebuilt), the digest's
# unique index becomes the column's unique constraint (USING INDEX: the same index, renamed), and
# pending_device loses the index on unit_code that generate_schemas added beside the hand-written one.
# SQLite keeps the unique keys inline in the table (tortoise finds them by their columns when it rebuilds
# a table), so only the duplicate index goes.
_LEGACY_BRIDGE = {
    "postgres": [
        'ALTER TABLE "punch" RENAME CONSTRAINT "uid_punch_unit_device" TO "uid_punch_unit_co_869eeb"',
        'ALTER TABLE "pending_device" RENAME CONSTRAINT "uid_pending_device_gateway_serial" TO'
        ' "uid_pending_dev_gateway_e9b13e"',
        'ALTER TABLE "held_batch" RENAME CONSTRAINT "uid_held_batch_gateway_batch" TO "uid_held_batch_gateway_2ed9e2"',
        'ALTER TABLE "quarantined_message" ADD CONSTRAINT "quarantined_message_digest_key" UNIQUE USING INDEX'
        ' "uid_quarantined_digest"',
        'DROP INDEX IF EXISTS "idx_pending_device_unit"',
    ],
    "sqlite": ['DROP INDEX IF EXISTS "idx_pending_device_unit"'],
}


class LegacySchemaError(RuntimeError):
    """A database of the hand-written SQL era that cannot be adopted as it is; the message says why."""


def dialect_of(db_url: str) -> str:
    scheme = db_url.split("://", 1)[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql", "asyncpg", "psycopg"):
        return "postgres"
    raise ValueError(f"database URL {db_url.split('@')[-1]!r}: expected sqlite:// or postgres://")


def tortoise_config(db_url: str) -> dict[str, Any]:
    """The connection is named after its dialect: tortoise caches compiled INSERTs per connection name,
    so a process that opens SQLite and then PostgreSQL (tests, the demo) must not share the name."""
    dialect = dialect_of(db_url)
    return {
        "connections": {dialect: db_url},
        "apps": {APP: tortoise_config_for(dialect)},
    }


async def open_database(db_url: str, *, create_schema: bool = True) -> TortoiseContext:
    """Connect and (by default) migrate. The context is also the global fallback so request handlers
    and the MQTT consumer, which run in other tasks, find the connection."""
    dialect = dialect_of(db_url)
    if dialect == "sqlite" and db_url != "sqlite://:memory:":
        Path(db_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    context = await Tortoise.init(config=tortoise_config(db_url), _enable_global_fallback=True)
    if create_schema:
        await migrate_schema(dialect)
    return context


async def close_database(context: TortoiseContext) -> None:
    await context.close_connections()


class _Recorder(MigrationRecorder):
    """tortoise's recorder, made safe inside one transaction: its own ensure_schema runs the DDL as a
    script, which on SQLite commits whatever transaction is open."""

    async def ensure_schema(self, schema_editor: BaseSchemaEditor) -> None:
        statement = schema_editor._get_model_sql_data(self.model).table_sql
        statement = statement.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1).strip().rstrip(";")
        await self.connection.execute_query(statement)


async def migrate_schema(dialect: str, up_to: str | None = None) -> list[str]:
    """Apply every migration not applied yet (adopting a legacy database first), or only those up to
    ``up_to`` (a migration's name: the upgrade tests start from an older release's schema); returns the
    names applied now, an adopted initial migration as "0001_initial (adopted)"."""
    applied_now: list[str] = []
    async with in_transaction(dialect) as tx:
        if dialect == "postgres":
            await tx.execute_query("SELECT pg_advisory_xact_lock($1)", [_MIGRATION_LOCK_KEY])
        legacy = await table_exists(tx, dialect, LEGACY_TABLE) and not await table_exists(tx, dialect, MIGRATION_TABLE)
        executor = MigrationExecutor(tx, {APP: tortoise_config_for(dialect)})
        recorder = _Recorder(tx, table_name=MIGRATION_TABLE)
        executor.recorder = executor.loader.recorder = recorder
        await recorder.ensure_schema(executor._schema_editor(atomic=False))
        if legacy:
            await _adopt_legacy(tx, dialect, executor)
            applied_now.append(f"{INITIAL_MIGRATION} (adopted)")
        targets = None if up_to is None else [MigrationTarget(app_label=APP, name=up_to)]
        plan = await executor.plan(targets)
        await executor.migrate(targets)
        for step in plan:
            applied_now.append(step.migration.name)
            log.info("applied migration %s", step.migration.name)
    return applied_now


def tortoise_config_for(dialect: str) -> dict[str, Any]:
    """The one app's entry of the tortoise config."""
    return {"models": MODELS["models"], "default_connection": dialect, "migrations": MIGRATIONS_MODULE}


async def table_exists(connection: BaseDBAsyncClient, dialect: str, table: str) -> bool:
    if dialect == "postgres":
        query = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
    else:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    _, rows = await connection.execute_query(query, [table])
    return bool(rows)


async def table_columns(connection: BaseDBAsyncClient, dialect: str, table: str) -> set[str]:
    if dialect == "postgres":
        query = (
            "SELECT column_name AS name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1"
        )
        _, rows = await connection.execute_query(query, [table])
    else:
        _, rows = await connection.execute_query(f'PRAGMA table_info("{table}")')
    return {row["name"] for row in rows}


async def _adopt_legacy(tx: BaseDBAsyncClient, dialect: str, executor: MigrationExecutor) -> None:
    _, rows = await tx.execute_query(f'SELECT "version" FROM "{LEGACY_TABLE}"')
    versions = {int(row["version"]) for row in rows}
    if versions != LEGACY_VERSIONS:
        raise LegacySchemaError(
            f"skema lama tercatat pada versi {sorted(versions)}, bukan 1-4: jalankan dulu `kinerja server migrate`"
            " dari rilis sebelum migrasi tortoise / the legacy schema_migration records versions"
            f" {sorted(versions)}, not 1-4: migrate with the release before tortoise migrations first"
        )
    await executor.loader.build_graph()
    initial = MigrationKey(app_label=APP, name=INITIAL_MIGRATION)
    state = await executor._project_state({initial})
    editor = executor._schema_editor(atomic=True)
    for app_label, model_name in sorted(state.models):
        model = state.apps.get_model(app_label, model_name)
        table = model._meta.db_table
        if not await table_exists(tx, dialect, table):
            # A model module newer than the database (main created its tables only when it started).
            await editor.create_model(model)
            log.info("legacy database: created table %s", table)
            continue
        missing = set(model._meta.fields_db_projection.values()) - await table_columns(tx, dialect, table)
        if missing:
            raise LegacySchemaError(
                f"tabel {table} tidak punya kolom {sorted(missing)} / table {table} lacks columns {sorted(missing)}:"
                " not the schema the legacy SQL and generate_schemas made"
            )
    for statement in _LEGACY_BRIDGE[dialect]:
        await tx.execute_query(statement)
    await executor.recorder.record_applied(APP, INITIAL_MIGRATION)
    log.info("legacy database adopted: %s recorded as applied", INITIAL_MIGRATION)


# For tortoise's own CLI (`tortoise -c server.db.TORTOISE_ORM makemigrations`, see docs/server.md).
TORTOISE_ORM = tortoise_config(os.environ.get("KINERJA_DB_URL", "sqlite://var/kinerja.sqlite3"))
