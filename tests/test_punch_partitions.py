"""The punch table partitioned by month on PostgreSQL (server/partitions.py, migration 0006), on a real
PostgreSQL: months made ahead with their own keys and indexes, a punch of a month without a partition kept
(and idempotent) in the default one and moved when its month is made, old months detached for archive and
out of every query, and SQLite left one plain table."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from server import partitions as parts
from server.db import close_database, open_database
from server.models import Punch
from server.services.ingest import store_batch
from wire.contract import AckStatus, PunchBatch, PunchRecord

REPO = Path(__file__).resolve().parent.parent
WIB = timezone(timedelta(hours=7))
WIT = timezone(timedelta(hours=9))


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[BaseDBAsyncClient]:
    context = await open_database(postgres_url)
    try:
        yield Tortoise.get_connection("postgres")
    finally:
        await close_database(context)


def batch_at(*times: datetime, unit: str = "unit-a", serial: str = "DEV1") -> PunchBatch:
    punches = tuple(PunchRecord(str(i + 1), moment, 0, 1, i) for i, moment in enumerate(times))
    return PunchBatch(uuid.uuid4().hex, "gw-a", unit, serial, punches, datetime.now(UTC))


async def where_is(connection: BaseDBAsyncClient, unit: str = "unit-a") -> list[tuple[str, str]]:
    """(partition, pin) of every punch of the unit, as the table routes them."""
    _, rows = await connection.execute_query(
        'SELECT tableoid::regclass::text AS part, "pin" FROM "punch" WHERE "unit_code" = $1 ORDER BY "pin"', [unit]
    )
    return [(row["part"], row["pin"]) for row in rows]


async def index_columns(connection: BaseDBAsyncClient, table: str) -> set[str]:
    _, rows = await connection.execute_query(
        "SELECT regexp_replace(indexdef, '^.* USING ', '') AS def FROM pg_indexes WHERE tablename = $1", [table]
    )
    return {row["def"] for row in rows}


def test_month_bounds_are_midnight_wib_of_the_first() -> None:
    start, end = parts.bounds(date(2026, 12, 1))
    assert start == datetime(2026, 11, 30, 17, tzinfo=UTC) and end == datetime(2026, 12, 31, 17, tzinfo=UTC)
    # 06:30 WIT on the 1st (21:30 UTC the day before) belongs to the 1st's month, as 06:30 WIB does.
    assert parts.month_of(datetime(2026, 12, 1, 6, 30, tzinfo=WIT)) == date(2026, 12, 1)
    assert parts.month_of(datetime(2026, 11, 30, 23, 59, tzinfo=WIB)) == date(2026, 11, 1)
    assert parts.scheduled_months(date(2026, 12, 3)) == [
        date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1),
    ]  # fmt: skip


async def test_the_migration_makes_the_months_ahead_each_with_the_keys_and_indexes_of_the_parent(
    pg: BaseDBAsyncClient,
) -> None:
    assert await parts.is_partitioned(pg)
    found = await parts.partitions(pg)
    current = parts.month_of(datetime.now(WIB).date())
    assert [p.month for p in found] == [None, *parts.scheduled_months(current)]
    assert found[0].name == parts.DEFAULT_PARTITION
    parent = await index_columns(pg, "punch")
    assert "btree (unit_code, device_serial, pin, punched_at, state)" in parent  # the idempotency key
    assert "btree (id, punched_at)" in parent and len(parent) == 4
    for partition in found:
        assert await index_columns(pg, partition.name) == parent, partition.name
    # A second run of the schedule makes nothing; the next month's run makes exactly one more of each table.
    async with in_transaction("postgres") as tx:
        assert await parts.ensure_ahead(tx) == []
        later = parts.add_months(current, 1)
        made = parts.partition_name(parts.add_months(later, 3))
        assert await parts.ensure_ahead(tx, today=later) == [
            parts.partition_name(parts.add_months(later, 3), table) for table in parts.TABLES
        ]
    assert await index_columns(pg, made) == parent  # a month made later is indexed as the others


async def test_a_punch_of_a_month_without_partition_is_kept_in_the_default_one_idempotently_and_moved_later(
    pg: BaseDBAsyncClient,
) -> None:
    now = datetime.now(WIB).replace(microsecond=0)
    old = datetime(2015, 3, 2, 7, 31, tzinfo=WIB)
    far = datetime(2031, 1, 5, 7, 45, tzinfo=WIB)  # a device clock years ahead: stored, flagged
    batch = batch_at(now, old, far)
    first = await store_batch(batch, "postgres")
    again = await store_batch(batch, "postgres")
    assert (first.stored, first.duplicates) == (3, 0)
    assert (again.outcome, again.stored, again.duplicates) == (AckStatus.STORED, 0, 3)
    this_month = parts.partition_name(parts.month_of(now))
    assert await where_is(pg) == [(this_month, "1"), ("punch_default", "2"), ("punch_default", "3")]
    async with in_transaction("postgres") as tx:
        assert await parts.ensure_months(tx, [date(2015, 3, 1)], tables=["punch"]) == ["punch_2015_03"]
    assert await where_is(pg) == [(this_month, "1"), ("punch_2015_03", "2"), ("punch_default", "3")]
    # Moved, the punch is still known: its replay (another batch id) adds nothing.
    replay = await store_batch(batch_at(now, old, far), "postgres")
    assert (replay.stored, replay.duplicates) == (0, 3)
    assert await Punch.filter(unit_code="unit-a").count() == 3
    flags = dict(await Punch.filter(unit_code="unit-a").values_list("pin", "flag"))
    assert flags == {"1": None, "2": None, "3": "future"}


async def test_an_old_month_detached_for_archive_leaves_every_query_and_can_be_attached_back(
    pg: BaseDBAsyncClient,
) -> None:
    today = datetime.now(WIB).date()
    old = parts.add_months(parts.month_of(today), -4)
    kept = datetime.now(WIB).replace(microsecond=0)
    async with in_transaction("postgres") as tx:
        await parts.ensure_months(tx, [old])
    await store_batch(batch_at(datetime(old.year, old.month, 10, 7, 30, tzinfo=WIB), kept), "postgres")
    assert await Punch.filter(unit_code="unit-a").count() == 2
    async with in_transaction("postgres") as tx:
        archived = await parts.detach_month(tx, old)
    assert archived == f"archive.{parts.partition_name(old)}"
    assert list(await Punch.filter(unit_code="unit-a").values_list("pin", flat=True)) == ["2"]
    _, rows = await pg.execute_query(f'SELECT "pin" FROM {archived}')
    assert [row["pin"] for row in rows] == ["1"]  # the rows wait in the archive table, to dump and drop
    assert parts.partition_name(old) not in {p.name for p in await parts.partitions(pg)}
    # A replay of an archived punch while its month is away waits in the default partition ...
    late = await store_batch(batch_at(datetime(old.year, old.month, 10, 7, 30, tzinfo=WIB)), "postgres")
    assert late.stored == 1 and ("punch_default", "1") in await where_is(pg)
    for recent in (parts.month_of(today), parts.add_months(parts.month_of(today), -1)):
        with pytest.raises(parts.PartitionError, match="terlalu baru"):
            async with in_transaction("postgres") as tx:
                await parts.detach_month(tx, recent)
    async with in_transaction("postgres") as tx:
        assert await parts.attach_month(tx, old) == parts.partition_name(old)
    # ... and is one punch again when the month comes back: the archive had it.
    assert await where_is(pg) == [(parts.partition_name(old), "1"), (parts.partition_name(parts.month_of(today)), "2")]
    assert await parts.archived_months(pg) == []


def test_the_partitions_command_makes_lists_and_detaches_months(postgres_url: str) -> None:
    env = {**os.environ, "KINERJA_DB_URL": postgres_url}

    def kinerja(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(Path(sys.executable).parent / "kinerja"), "server", "partitions", *args]
        return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)

    made = kinerja("ensure", "--ahead", "5")
    assert made.returncode == 0, made.stderr
    current = parts.month_of(datetime.now(WIB).date())
    assert made.stdout.split() == [  # every partitioned table's months
        word
        for table in parts.TABLES
        for ahead in (4, 5)
        for word in ("created", parts.partition_name(parts.add_months(current, ahead), table))
    ]
    assert kinerja("ensure").stdout.strip() == "every scheduled month has its partition"
    refused = kinerja("detach", f"{current:%Y-%m}")
    assert refused.returncode == 2 and "terlalu baru" in refused.stderr
    assert kinerja("detach", "2026-13").returncode == 2
    missing = kinerja("detach", "2019-01")
    assert missing.returncode == 2 and "tidak punya partisi" in missing.stderr
    listing = kinerja("list")
    assert listing.returncode == 0
    names = [line.split("\t")[0] for line in listing.stdout.splitlines()]
    assert names[0] == "punch_default" and len(names) == 1 + 5 + 2


async def test_sqlite_keeps_one_plain_punch_table(tmp_path: Path) -> None:
    context = await open_database(f"sqlite://{tmp_path / 'one.sqlite3'}")
    try:
        connection = Tortoise.get_connection("sqlite")
        _, rows = await connection.execute_query("SELECT name FROM sqlite_master WHERE name LIKE 'punch%'")
        assert {row["name"] for row in rows} == {"punch"}
    finally:
        await close_database(context)
