"""The punch table by month on PostgreSQL: declarative RANGE partitions on `punched_at`.

At national scale punches are ~11 million rows a day; one table of billions of rows makes every index
deeper, every vacuum longer and an old year impossible to take out without a huge DELETE. So on
PostgreSQL `punch` is a partitioned table (migration 0006 converts it, rows and all):

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
  `INSERT ... ON CONFLICT DO NOTHING` is unchanged and still exactly-once;
- months are created ahead (`AHEAD_MONTHS`) by the migration, by every replica at start and every few
  hours after (server/app.py), and by `kinerja server partitions ensure`;
- an old month is detached for archive (`kinerja server partitions detach YYYY-MM`): the partition leaves
  `punch` (no query sees its rows any more) and becomes the plain table `archive.punch_YYYY_MM`, to be
  dumped (`pg_dump -t archive.punch_YYYY_MM`) and dropped, or attached back.

SQLite (the embedded install, one office) keeps one plain table: every function here is PostgreSQL's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from tortoise.backends.base.client import BaseDBAsyncClient

log = logging.getLogger(__name__)

PARENT = "punch"
DEFAULT_PARTITION = "punch_default"
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


def partition_name(month: date) -> str:
    return f"{PARENT}_{month:%Y_%m}"


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


def _attach(name: str, month: date) -> str:
    start, end = bounds(month)
    return (
        f'ALTER TABLE "{PARENT}" ATTACH PARTITION {_quoted(name)}'
        f" FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
    )


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise PartitionError(f"nama tabel tidak sah / invalid table name: {name!r}")
    return f'"{name}"'


async def is_partitioned(connection: BaseDBAsyncClient) -> bool:
    _, rows = await connection.execute_query(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        " WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
        [PARENT],
    )
    return bool(rows)


async def partitions(connection: BaseDBAsyncClient) -> list[Partition]:
    """The parent's partitions, the default one first, then by month."""
    _, rows = await connection.execute_query(
        "SELECT c.relname AS name, c.reltuples::bigint AS rows, pg_get_expr(c.relpartbound, c.oid) AS bound"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace ORDER BY c.relname",
        [PARENT],
    )
    found = []
    for row in rows:
        month = None
        if row["bound"] != "DEFAULT":
            year, number = row["name"].removeprefix(f"{PARENT}_").split("_")
            month = date(int(year), int(number), 1)
        found.append(Partition(row["name"], month, int(row["rows"])))
    return sorted(found, key=lambda p: (p.month is not None, p.month or FIRST_MONTH))


async def create_month(connection: BaseDBAsyncClient, month: date) -> bool:
    """Give `month` its partition (True), moving its rows out of the default partition; False if it has one.

    The table is built beside the parent, filled from the default partition and then attached, so the
    default partition never holds a row of an attached month (PostgreSQL would refuse the attach)."""
    month = month_of(month)
    name = partition_name(month)
    existing = {p.name for p in await partitions(connection)}
    if name in existing:
        return False
    await connection.execute_query(
        f'CREATE TABLE {_quoted(name)} (LIKE "{PARENT}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)'
    )
    if DEFAULT_PARTITION in existing:
        await _move_from_default(connection, name, month)
    await connection.execute_query(_attach(name, month))
    log.info("created punch partition %s", name)
    return True


async def _move_from_default(connection: BaseDBAsyncClient, name: str, month: date) -> None:
    """The default partition's rows of `month` into the table `name` (one that has them already stays)."""
    start, end = bounds(month)
    moved, _ = await connection.execute_query(
        f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE "punched_at" >= $1 AND "punched_at" < $2'
        f" RETURNING *) INSERT INTO {_quoted(name)} SELECT * FROM moved ON CONFLICT DO NOTHING",
        [start, end],
    )
    if moved:
        log.info("moved %d punches of %s out of the default partition", moved, f"{month:%Y-%m}")


async def ensure_months(connection: BaseDBAsyncClient, months: Iterable[date]) -> list[str]:
    """Create the partitions missing among `months` (in one transaction the caller holds); their names."""
    await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [_LOCK_KEY])
    created = []
    for month in sorted(set(map(month_of, months))):
        if month >= FIRST_MONTH and await create_month(connection, month):
            created.append(partition_name(month))
    return created


async def ensure_ahead(
    connection: BaseDBAsyncClient, today: date | None = None, ahead: int = AHEAD_MONTHS
) -> list[str]:
    """The schedule: this month, the one before and `ahead` after. Nothing on an unpartitioned table."""
    if not await is_partitioned(connection):
        return []
    return await ensure_months(connection, scheduled_months(today or datetime.now(BOUND_ZONE).date(), ahead))


async def detach_month(connection: BaseDBAsyncClient, month: date, today: date | None = None) -> str:
    """Take an old month out of `punch` into `archive.punch_YYYY_MM`; the archived table's name.

    Only a month before the current one's predecessor: the last month may still get late punches and be
    scored again, and a detached month's punches are seen by no query (its scores stay stored)."""
    month = month_of(month)
    current = month_of(today or datetime.now(BOUND_ZONE).date())
    if month >= add_months(current, -BEHIND_MONTHS):
        raise PartitionError(
            f"bulan {month:%Y-%m} masih terlalu baru untuk diarsipkan: hanya bulan sebelum"
            f" {add_months(current, -BEHIND_MONTHS):%Y-%m} / month {month:%Y-%m} is too recent to archive"
        )
    name = partition_name(month)
    if name not in {p.name for p in await partitions(connection)}:
        raise PartitionError(f"bulan {month:%Y-%m} tidak punya partisi / month {month:%Y-%m} has no partition")
    await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [_LOCK_KEY])
    await connection.execute_query(f'ALTER TABLE "{PARENT}" DETACH PARTITION {_quoted(name)}')
    await connection.execute_query(f'CREATE SCHEMA IF NOT EXISTS "{ARCHIVE_SCHEMA}"')
    await connection.execute_query(f'ALTER TABLE {_quoted(name)} SET SCHEMA "{ARCHIVE_SCHEMA}"')
    log.info("detached punch partition %s into %s.%s", name, ARCHIVE_SCHEMA, name)
    return f"{ARCHIVE_SCHEMA}.{name}"


async def archived_months(connection: BaseDBAsyncClient) -> list[str]:
    _, rows = await connection.execute_query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE $2"
        " ORDER BY table_name",
        [ARCHIVE_SCHEMA, f"{PARENT}\\_%"],
    )
    return [row["table_name"] for row in rows]


async def attach_month(connection: BaseDBAsyncClient, month: date) -> str:
    """Put an archived month back into `punch` (its rows are checked against the month's bounds)."""
    month = month_of(month)
    name = partition_name(month)
    if name not in await archived_months(connection):
        raise PartitionError(
            f"bulan {month:%Y-%m} tidak ada di arsip {ARCHIVE_SCHEMA} / month {month:%Y-%m} is not archived"
        )
    if name in {p.name for p in await partitions(connection)}:
        raise PartitionError(f"bulan {month:%Y-%m} sudah punya partisi / month {month:%Y-%m} has a partition")
    await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [_LOCK_KEY])
    _, schema = await connection.execute_query("SELECT current_schema() AS name")
    await connection.execute_query(f'ALTER TABLE "{ARCHIVE_SCHEMA}".{_quoted(name)} SET SCHEMA "{schema[0]["name"]}"')
    # Punches of the month that came while it was archived (a gateway replaying old records) waited in
    # the default partition: they join it, those it already has are dropped.
    await _move_from_default(connection, name, month)
    await connection.execute_query(_attach(name, month))
    return name


# --- the conversion (migration 0006) -------------------------------------------------------------------

_OLD = "punch_before_partitioning"


async def partition_existing_table(connection: BaseDBAsyncClient, today: date | None = None) -> None:
    """Turn the plain `punch` table into the partitioned one, every row kept (ids included) and landing in
    its month's partition; the same names for the keys and indexes, so later generated migrations find them.

    Months get a partition for the schedule around `today` and for every plausible month that has rows
    (FIRST_MONTH up to the schedule's end); rows outside go to the default partition."""
    if await is_partitioned(connection):
        return
    today = today or datetime.now(BOUND_ZONE).date()
    months = scheduled_months(today)
    _, found = await connection.execute_query(
        "SELECT DISTINCT date_trunc('month', \"punched_at\" AT TIME ZONE 'Asia/Jakarta')::date AS month"
        f' FROM "{PARENT}"'
    )
    months += [row["month"] for row in found if FIRST_MONTH <= row["month"] <= months[-1]]
    _, keys = await connection.execute_query(
        "SELECT conname AS name, contype::text AS kind, pg_get_constraintdef(oid) AS def FROM pg_constraint"
        f" WHERE conrelid = '\"{PARENT}\"'::regclass AND contype IN ('p', 'u') ORDER BY contype, conname"
    )
    _, indexes = await connection.execute_query(
        "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        f" WHERE x.indrelid = '\"{PARENT}\"'::regclass AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) ORDER BY i.relname"
    )
    _, comment = await connection.execute_query(f"SELECT obj_description('\"{PARENT}\"'::regclass) AS text")
    _, sequence = await connection.execute_query(f"SELECT pg_get_serial_sequence('\"{PARENT}\"', 'id') AS name")
    statements = [
        f'ALTER TABLE "{PARENT}" RENAME TO "{_OLD}"',
        f"ALTER SEQUENCE {sequence[0]['name']} OWNED BY NONE",
        f'CREATE TABLE "{PARENT}" (LIKE "{_OLD}" INCLUDING DEFAULTS INCLUDING STORAGE)'
        ' PARTITION BY RANGE ("punched_at")',
        f'CREATE TABLE "{DEFAULT_PARTITION}" PARTITION OF "{PARENT}" DEFAULT',
    ]
    for month in sorted(set(months)):
        start, end = bounds(month)
        statements.append(
            f'CREATE TABLE "{partition_name(month)}" PARTITION OF "{PARENT}"'
            f" FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
        )
    statements += [
        f'INSERT INTO "{PARENT}" SELECT * FROM "{_OLD}"',
        f'DROP TABLE "{_OLD}"',
        f'ALTER SEQUENCE {sequence[0]["name"]} OWNED BY "{PARENT}"."id"',
    ]
    for key in keys:
        definition = key["def"]
        if key["kind"] == "p":
            # A partitioned table's keys must hold the partition key: the id stays unique by its sequence.
            definition = 'PRIMARY KEY ("id", "punched_at")'
        elif "punched_at" not in definition:
            raise RuntimeError(f"unique key {key['name']} of punch lacks punched_at: it cannot be partitioned")
        statements.append(f'ALTER TABLE "{PARENT}" ADD CONSTRAINT "{key["name"]}" {definition}')
    # Read before the rename, the definitions name "punch": by now the new, partitioned table.
    statements += [index["def"] for index in indexes]
    if comment and comment[0]["text"]:
        statements.append(f"COMMENT ON TABLE \"{PARENT}\" IS '{comment[0]['text'].replace(chr(39), chr(39) * 2)}'")
    for statement in statements:
        await connection.execute_query(statement)
