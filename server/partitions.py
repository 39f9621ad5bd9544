"""The tables that grow with time, by month on PostgreSQL: declarative RANGE partitions on a timestamp.

At national scale punches are ~11 million rows a day; one table of billions of rows makes every index
deeper, every vacuum longer and an old year impossible to take out without a huge DELETE. The audit trail,
the activity claims (several a day per employee) and the corrected punches grow the same way, slower. So
on PostgreSQL each table of `TABLES` is a partitioned table (migration 0006 converts `punch`, 0013 the
others, rows and all); what is said of `punch` below holds for each, with its own partition column:

- one partition a month, `punch_YYYY_MM`, bounded at midnight WIB (UTC+7) of the 1st: the morning rush of
  the 1st (05:00-08:00 local in all three zones) is never split from its month, and a unit-month in any
  zone touches at most two partitions (WITA and WIT's first hour or two of the 1st fall in the month
  before). The bounds are instants (timestamptz), so a partition is the same for every office;
- `punch_default` takes whatever has no month yet (a device clock years off, a month nobody created):
  no punch is ever refused for lack of a partition. Creating a month later moves its rows out of the
  default partition in the same transaction;
- the keys and indexes are declared on the parent, so every partition has its own: the idempotency key
  (unit_code, device_serial, pin, punched_at, state) already holds the partition key, which PostgreSQL
  requires of a unique key on a partitioned table; the primary key becomes (id, punched_at). Ingest's
  `INSERT ... ON CONFLICT DO NOTHING` is unchanged and still exactly-once. The other tables have no
  unique key but their primary key, which becomes (id, at), (claim_id, start), (id, punched_at): ids come
  from a sequence (audit, corrected punches) or are random 128-bit ids the server makes (claims), so they
  stay unique without the database checking it across months; nothing upserts into them;
- months are created ahead (`AHEAD_MONTHS`) by the migration, by every replica at start and every few
  hours after (server/app.py), and by `kinerja server partitions ensure`;
- an old month is detached for archive (`kinerja server partitions detach YYYY-MM [--table T]`): the
  partition leaves `punch` (no query sees its rows any more) and becomes the plain table
  `archive.punch_YYYY_MM`, to be dumped (`pg_dump -t archive.punch_YYYY_MM`) and dropped, or attached back.

SQLite (the embedded install, one office) keeps one plain table: every function here is PostgreSQL's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from tortoise.backends.base.client import BaseDBAsyncClient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartitionedTable:
    """A table partitioned by month on `column` (a timestamptz); `key` is its primary key on the parent
    (the model's own key and the partition column: PostgreSQL wants the partition key in every unique key)."""

    name: str
    column: str
    key: tuple[str, ...]

    @property
    def default_partition(self) -> str:
        return f"{self.name}_default"


# Every table partitioned by month, the first the one the commands take when told no other.
TABLES: dict[str, PartitionedTable] = {
    table.name: table
    for table in (
        PartitionedTable("punch", "punched_at", ("id", "punched_at")),
        PartitionedTable("audit_entry", "at", ("id", "at")),
        PartitionedTable("activity_claim", "start", ("claim_id", "start")),
        PartitionedTable("corrected_punch", "punched_at", ("id", "punched_at")),
    )
}
PARENT = "punch"  # the table the commands take when told no other
DEFAULT_PARTITION = TABLES[PARENT].default_partition
ARCHIVE_SCHEMA = "archive"
# Months created ahead of the current one, and kept behind it (a month is never created in the past
# by the schedule: a late punch of a month without a partition goes to the default one).
AHEAD_MONTHS = 3
BEHIND_MONTHS = 1
# Partition bounds are midnight of the 1st in this zone (WIB).
BOUND_ZONE = timezone(timedelta(hours=7))
# No real punch is older (ingest.OLDEST_PLAUSIBLE): such months are left to the default partition.
FIRST_MONTH = date(2001, 1, 1)
# Replicas creating months at the same moment take turns.
_LOCK_KEY = 0x4B494E5041525431


class PartitionError(ValueError):
    """A request the partitions cannot honour; the message is Indonesian first."""


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    month: date | None  # None: the default partition
    rows: int  # the planner's estimate (pg_class.reltuples), -1 when never analysed


def month_of(moment: date | datetime) -> date:
    """The partition month of an instant (its WIB month), or the first of a date's month."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(BOUND_ZONE).date()
    return moment.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def table_of(name: str) -> PartitionedTable:
    try:
        return TABLES[name]
    except KeyError:
        raise PartitionError(
            f"tabel {name!r} tidak dipartisi / table {name!r} is not partitioned: one of {', '.join(TABLES)}"
        ) from None


def partition_name(month: date, table: str = PARENT) -> str:
    return f"{table_of(table).name}_{month:%Y_%m}"


def bounds(month: date) -> tuple[datetime, datetime]:
    """The instants [from, to) of a month's partition."""
    start = datetime(month.year, month.month, 1, tzinfo=BOUND_ZONE)
    following = add_months(month, 1)
    return start, datetime(following.year, following.month, 1, tzinfo=BOUND_ZONE)


def scheduled_months(today: date, ahead: int = AHEAD_MONTHS, behind: int = BEHIND_MONTHS) -> list[date]:
    current = month_of(today)
    return [add_months(current, offset) for offset in range(-behind, ahead + 1)]


def _literal(moment: datetime) -> str:
    # DDL takes no parameters: the bound is written out, from a datetime we made (no outside text).
    return f"'{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


def _attach(table: PartitionedTable, name: str, month: date) -> str:
    start, end = bounds(month)
    return (
        f'ALTER TABLE "{table.name}" ATTACH PARTITION {_quoted(name)}'
        f" FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
    )


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise PartitionError(f"nama tabel tidak sah / invalid table name: {name!r}")
    return f'"{name}"'


async def is_partitioned(connection: BaseDBAsyncClient, table: str = PARENT) -> bool:
    _, rows = await connection.execute_query(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        " WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
        [table_of(table).name],
    )
    return bool(rows)


async def partitions(connection: BaseDBAsyncClient, table: str = PARENT) -> list[Partition]:
    """The table's partitions, the default one first, then by month."""
    parent = table_of(table)
    _, rows = await connection.execute_query(
        "SELECT c.relname AS name, c.reltuples::bigint AS rows, pg_get_expr(c.relpartbound, c.oid) AS bound"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace ORDER BY c.relname",
        [parent.name],
    )
    found = []
    for row in rows:
        month = None
        if row["bound"] != "DEFAULT":
            year, number = row["name"].removeprefix(f"{parent.name}_").split("_")
            month = date(int(year), int(number), 1)
        found.append(Partition(row["name"], month, int(row["rows"])))
    return sorted(found, key=lambda p: (p.month is not None, p.month or FIRST_MONTH))


async def create_month(connection: BaseDBAsyncClient, month: date, table: str = PARENT) -> bool:
    """Give `month` its partition (True), moving its rows out of the default partition; False if it has one.

    The table is built beside the parent, filled from the default partition and then attached, so the
    default partition never holds a row of an attached month (PostgreSQL would refuse the attach)."""
    parent = table_of(table)
    month = month_of(month)
    name = partition_name(month, parent.name)
    existing = {p.name for p in await partitions(connection, parent.name)}
    if name in existing:
        return False
    await connection.execute_query(
        f"CREATE TABLE {_quoted(name)}"
        f' (LIKE "{parent.name}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)'
    )
    if parent.default_partition in existing:
        await _move_from_default(connection, parent, name, month)
    await connection.execute_query(_attach(parent, name, month))
    log.info("created %s partition %s", parent.name, name)
    return True


async def _move_from_default(connection: BaseDBAsyncClient, table: PartitionedTable, name: str, month: date) -> None:
    """The default partition's rows of `month` into the table `name` (one that has them already stays)."""
    start, end = bounds(month)
    moved, _ = await connection.execute_query(
        f'WITH moved AS (DELETE FROM "{table.default_partition}"'
        f' WHERE "{table.column}" >= $1 AND "{table.column}" < $2'
        f" RETURNING *) INSERT INTO {_quoted(name)} SELECT * FROM moved ON CONFLICT DO NOTHING",
        [start, end],
    )
    if moved:
        log.info("moved %d rows of %s %s out of the default partition", moved, table.name, f"{month:%Y-%m}")


async def ensure_months(
    connection: BaseDBAsyncClient, months: Iterable[date], tables: Iterable[str] | None = None
) -> list[str]:
    """Create the partitions missing among `months` for `tables` (every partitioned one of `TABLES` if
    None), in one transaction the caller holds; their names. A table not partitioned (yet) is left alone."""
    await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [_LOCK_KEY])
    wanted = sorted(set(map(month_of, months)))
    created = []
    for table in TABLES if tables is None else tables:
        if not await is_partitioned(connection, table):
            continue
        for month in wanted:
            if month >= FIRST_MONTH and await create_month(connection, month, table):
                created.append(partition_name(month, table))
    return created


async def ensure_ahead(
    connection: BaseDBAsyncClient,
    today: date | None = None,
    ahead: int = AHEAD_MONTHS,
    tables: Iterable[str] | None = None,
) -> list[str]:
    """The schedule, for every partitioned table: this month, the one before and `ahead` after."""
    months = scheduled_months(today or datetime.now(BOUND_ZONE).date(), ahead)
    return await ensure_months(connection, months, tables)


async def detach_month(
    connection: BaseDBAsyncClient, month: date, today: date | None = None, table: str = PARENT
) -> str:
    """Take an old month out of `table` into `archive.<table>_YYYY_MM`; the archived table's name.

    Only a month before the current one's predecessor: the last month may still get late punches (claims,
    corrections) and be scored again, and a detached month's rows are seen by no query (its scores stay
    stored)."""
    parent = table_of(table)
    month = month_of(month)
    current = month_of(today or datetime.now(BOUND_ZONE).date())
    if month >= add_months(current, -BEHIND_MONTHS):
        raise PartitionError(
            f"bulan {month:%Y-%m} masih terlalu baru untuk diarsipkan: hanya bulan sebelum"
            f" {add_months(current, -BEHIND_MONTHS):%Y-%m} / month {month:%Y-%m} is too recent to archive"
        )
    name = partition_name(month, parent.name)
    if name not in {p.name for p in await partitions(connection, parent.name)}:
        raise PartitionError(
            f"bulan {month:%Y-%m} tidak punya partisi {parent.name} / month {month:%Y-%m} has no partition"
        )
    await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [_LOCK_KEY])
    await connection.execute_query(f'ALTER TABLE "{parent.name}" DETACH PARTITION {_quoted(name)}')
    await connection.execute_query(f'CREATE SCHEMA IF NOT EXISTS "{ARCHIVE_SCHEMA}"')
    await connection.execute_query(f'ALTER TABLE {_quoted(name)} SET SCHEMA "{ARCHIVE_SCHEMA}"')
    log.info("detached %s partition %s into %s.%s", parent.name, name, ARCHIVE_SCHEMA, name)
    return f"{ARCHIVE_SCHEMA}.{name}"


async def archived_months(connection: BaseDBAsyncClient, table: str = PARENT) -> list[str]:
    """The archived months' tables of `table` (`<table>_YYYY_MM`: not another table's of a longer name)."""
    parent = table_of(table)
    _, rows = await connection.execute_query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name ~ $2"
        " ORDER BY table_name",
        [ARCHIVE_SCHEMA, f"^{parent.name}_[0-9]{{4}}_[0-9]{{2}}$"],
    )
    return [row["table_name"] for row in rows]


async def attach_month(connection: BaseDBAsyncClient, month: date, table: str = PARENT) -> str:
    """Put an archived month back into `table` (its rows are checked against the month's bounds)."""
    parent = table_of(table)
    month = month_of(month)
    name = partition_name(month, parent.name)
    if name not in await archived_months(connection, parent.name):
        raise PartitionError(
            f"bulan {month:%Y-%m} tidak ada di arsip {ARCHIVE_SCHEMA} / month {month:%Y-%m} is not archived"
        )
    if name in {p.name for p in await partitions(connection, parent.name)}:
        raise PartitionError(f"bulan {month:%Y-%m} sudah punya partisi / month {month:%Y-%m} has a partition")
    await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [_LOCK_KEY])
    _, schema = await connection.execute_query("SELECT current_schema() AS name")
    await connection.execute_query(f'ALTER TABLE "{ARCHIVE_SCHEMA}".{_quoted(name)} SET SCHEMA "{schema[0]["name"]}"')
    # Rows of the month that came while it was archived (a gateway replaying old records) waited in the
    # default partition: they join it, those it already has are dropped.
    await _move_from_default(connection, parent, name, month)
    await connection.execute_query(_attach(parent, name, month))
    return name


# --- the conversion (migrations 0006 and 0013) -----------------------------------------------------------


async def partition_existing_table(
    connection: BaseDBAsyncClient, today: date | None = None, table: str = PARENT
) -> None:
    """Turn the plain `table` into the partitioned one, every row kept (ids included) and landing in its
    month's partition; the same names for the keys, foreign keys and indexes, so later generated
    migrations find them.

    Months get a partition for the schedule around `today` and for every plausible month that has rows
    (FIRST_MONTH up to the schedule's end); rows outside go to the default partition."""
    parent = table_of(table)
    if await is_partitioned(connection, parent.name):
        return
    name, column, old = parent.name, parent.column, f"{parent.name}_before_partitioning"
    today = today or datetime.now(BOUND_ZONE).date()
    months = scheduled_months(today)
    _, found = await connection.execute_query(
        f"SELECT DISTINCT date_trunc('month', \"{column}\" AT TIME ZONE 'Asia/Jakarta')::date AS month FROM \"{name}\""
    )
    months += [row["month"] for row in found if FIRST_MONTH <= row["month"] <= months[-1]]
    _, referenced = await connection.execute_query(
        f"SELECT conname FROM pg_constraint WHERE confrelid = '\"{name}\"'::regclass AND contype = 'f'"
    )
    if referenced:  # a foreign key to it would need the partition column in the key it references
        raise RuntimeError(f"{name} is referenced by {referenced[0]['conname']}: it cannot be partitioned")
    _, keys = await connection.execute_query(
        "SELECT conname AS name, contype::text AS kind, pg_get_constraintdef(oid) AS def FROM pg_constraint"
        f" WHERE conrelid = '\"{name}\"'::regclass AND contype IN ('p', 'u', 'f', 'c') ORDER BY contype, conname"
    )
    _, indexes = await connection.execute_query(
        "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        f" WHERE x.indrelid = '\"{name}\"'::regclass AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) ORDER BY i.relname"
    )
    _, comment = await connection.execute_query(f"SELECT obj_description('\"{name}\"'::regclass) AS text")
    _, sequences = await connection.execute_query(
        "SELECT pg_get_serial_sequence($1, a.attname) AS sequence, a.attname AS column FROM pg_attribute a"
        f" WHERE a.attrelid = '\"{name}\"'::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        [f'"{name}"'],
    )
    owned = [(row["sequence"], row["column"]) for row in sequences if row["sequence"]]
    statements = [f'ALTER TABLE "{name}" RENAME TO "{old}"']
    statements += [f"ALTER SEQUENCE {sequence} OWNED BY NONE" for sequence, _ in owned]
    statements += [
        f'CREATE TABLE "{name}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMMENTS)'
        f' PARTITION BY RANGE ("{column}")',
        f'CREATE TABLE "{parent.default_partition}" PARTITION OF "{name}" DEFAULT',
    ]
    for month in sorted(set(months)):
        start, end = bounds(month)
        statements.append(
            f'CREATE TABLE "{partition_name(month, name)}" PARTITION OF "{name}"'
            f" FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
        )
    statements += [f'INSERT INTO "{name}" SELECT * FROM "{old}"', f'DROP TABLE "{old}"']
    statements += [f'ALTER SEQUENCE {sequence} OWNED BY "{name}"."{owner}"' for sequence, owner in owned]
    for key in keys:
        definition = key["def"]
        if key["kind"] == "p":
            # A partitioned table's keys must hold the partition key: the model's key stays unique by its
            # sequence (or its random ids).
            definition = "PRIMARY KEY (" + ", ".join(f'"{part}"' for part in parent.key) + ")"
        elif key["kind"] == "u" and column not in definition:
            raise RuntimeError(f"unique key {key['name']} of {name} lacks {column}: it cannot be partitioned")
        statements.append(f'ALTER TABLE "{name}" ADD CONSTRAINT "{key["name"]}" {definition}')
    # Read before the rename, the definitions name the table's name: by now the new, partitioned table.
    statements += [index["def"] for index in indexes]
    if comment and comment[0]["text"]:
        statements.append(f"COMMENT ON TABLE \"{name}\" IS '{comment[0]['text'].replace(chr(39), chr(39) * 2)}'")
    for statement in statements:
        await connection.execute_query(statement)
