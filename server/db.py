"""Opening and closing the database, and migrating its schema.

The schema is versioned SQL, one directory per dialect (server/migrations/postgres, .../sqlite), files
named NNNN_what.sql and applied in order, each in one transaction, recorded in `schema_migration`.
On PostgreSQL an advisory lock serialises replicas that migrate at the same moment.
Models of other server modules that ship no migration yet get their tables from tortoise's
generate_schemas(safe=True) after the migrations (CREATE ... IF NOT EXISTS: a no-op for migrated tables).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

# Other server modules append their models module here (one entry each).
MODELS = {
    "models": [
        "server.models",
        "server.accounts",
        "server.results_models",
        "server.activity_models",
        "server.payroll_models",
    ]
}
MODELS["models"] += ["server.biometric_models", "server.area_models"]  # issue 18 (no migrations yet)
MODELS["models"] += ["server.gateway_enrolment"]  # issue 20: enrolment codes (its migration comes at merge)

# Any fixed number: the key of the advisory lock replicas take while migrating.
_MIGRATION_LOCK_KEY = 0x4B494E45524A41

_CREATE_MIGRATION_TABLE = (
    'CREATE TABLE IF NOT EXISTS "schema_migration" ('
    '"version" INT NOT NULL PRIMARY KEY, "name" VARCHAR(200) NOT NULL, "applied_at" VARCHAR(40) NOT NULL)'
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        # Our migration files end every statement with ';' at the end of a line and never inside a literal.
        lines = [line for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        return [part.strip() for part in "\n".join(lines).split(";\n") if part.strip().rstrip(";").strip()]


def dialect_of(db_url: str) -> str:
    scheme = db_url.split("://", 1)[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql", "asyncpg", "psycopg"):
        return "postgres"
    raise ValueError(f"database URL {db_url.split('@')[-1]!r}: expected sqlite:// or postgres://")


def migrations_for(dialect: str) -> list[Migration]:
    folder = resources.files("server.migrations").joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        version_text, _, rest = name.partition("_")
        if not version_text.isdigit():
            raise ValueError(f"migration {name!r}: file names start with a version number, e.g. 0002_what.sql")
        found.append(Migration(int(version_text), rest.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if len({m.version for m in found}) != len(found):
        raise ValueError(f"two {dialect} migrations share a version number")
    return found


async def open_database(db_url: str, *, create_schema: bool = True) -> TortoiseContext:
    """Connect and (by default) migrate. The context is also the global fallback so request handlers
    and the MQTT consumer, which run in other tasks, find the connection."""
    dialect = dialect_of(db_url)
    if dialect == "sqlite" and db_url != "sqlite://:memory:":
        Path(db_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    # The connection is named after its dialect: tortoise caches compiled INSERTs per connection name,
    # so a process that opens SQLite and then PostgreSQL (tests, the demo) must not share the name.
    config = {
        "connections": {dialect: db_url},
        "apps": {"models": {"models": MODELS["models"], "default_connection": dialect}},
    }
    context = await Tortoise.init(config=config, _enable_global_fallback=True)
    if create_schema:
        await migrate_schema(dialect)
    return context


async def close_database(context: TortoiseContext) -> None:
    await context.close_connections()


async def migrate_schema(dialect: str) -> list[str]:
    """Apply every migration not applied yet; returns the names applied now."""
    applied_now: list[str] = []
    async with in_transaction(dialect) as tx:
        if dialect == "postgres":
            await tx.execute_query("SELECT pg_advisory_xact_lock($1)", [_MIGRATION_LOCK_KEY])
        await tx.execute_query(_CREATE_MIGRATION_TABLE)
        _, rows = await tx.execute_query('SELECT "version" FROM "schema_migration"')
        done = {row["version"] for row in rows}
        for migration in migrations_for(dialect):
            if migration.version in done:
                continue
            for statement in migration.statements():
                await tx.execute_query(statement)
            placeholders = "$1, $2, $3" if dialect == "postgres" else "?, ?, ?"
            await tx.execute_query(
                f'INSERT INTO "schema_migration" ("version", "name", "applied_at") VALUES ({placeholders})',
                [migration.version, migration.name, _now_text()],
            )
            applied_now.append(f"{migration.version:04d}_{migration.name}")
            log.info("applied migration %04d_%s", migration.version, migration.name)
    # Tables of models that have no migration yet (other modules); IF NOT EXISTS leaves ours alone.
    await Tortoise.generate_schemas(safe=True)
    return applied_now


def _now_text() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()
