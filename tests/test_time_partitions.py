"""The other tables that grow with time partitioned by month on PostgreSQL like punch (server/partitions.py,
migration 0013): the audit trail by `at`, activity claims by `start`, corrected punches by `punched_at`.
On a real PostgreSQL: each month's rows in its partition with the parent's keys and indexes, a far date in
the default partition, detach/attach per table, an existing table converted with its rows and ids, and
SQLite left with plain tables."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import OperationalError
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget
from tortoise.transactions import in_transaction

from server import partitions as parts
from server.activity_models import ActivityClaimRecord
from server.db import (
    APP,
    MIGRATION_TABLE,
    _Recorder,
    close_database,
    migrate_schema,
    open_database,
    tortoise_config_for,
)
from server.payroll_models import AuditEntry
from server.request_models import CorrectedPunch, EmployeeRequest
from server.services.payroll import record_audit

pytestmark = pytest.mark.empty_database  # these tests make, adopt and migrate databases themselves

REPO = Path(__file__).resolve().parent.parent
WIB = timezone(timedelta(hours=7))
GROWING = ("audit_entry", "activity_claim", "corrected_punch")


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[BaseDBAsyncClient]:
    context = await open_database(postgres_url)
    try:
        yield Tortoise.get_connection("postgres")
    finally:
        await close_database(context)


async def where_is(connection: BaseDBAsyncClient, table: str, key: str) -> dict[str, str]:
    """Each row's key and the partition the table routed it to."""
    _, rows = await connection.execute_query(f'SELECT tableoid::regclass::text AS part, "{key}" AS key FROM "{table}"')
    return {str(row["key"]): row["part"] for row in rows}


async def index_columns(connection: BaseDBAsyncClient, table: str) -> set[str]:
    _, rows = await connection.execute_query(
        "SELECT regexp_replace(indexdef, '^.* USING ', '') AS def FROM pg_indexes WHERE tablename = $1", [table]
    )
    return {row["def"] for row in rows}


async def claim(claim_id: str, start: datetime) -> ActivityClaimRecord:
    return await ActivityClaimRecord.create(
        claim_id=claim_id, nip="199001012020011001", unit_code="unit-a", activity="a", activity_name="A",
        start=start, quantity=1, minutes=30,
    )  # fmt: skip


async def request_with_corrections(*moments: datetime) -> tuple[EmployeeRequest, list[CorrectedPunch]]:
    request = await EmployeeRequest.create(
        nip="199001012020011001", unit_code="unit-a", kind="correction", first_day=date(2026, 1, 5),
        last_day=date(2026, 1, 5), filed_by="budi",
    )  # fmt: skip
    rows = [
        await CorrectedPunch.create(
            nip=request.nip,
            unit_code="unit-a",
            punched_at=moment,
            utc_offset_minutes=420,
            state=0,
            request=request,
            approved_by="citra",
        )
        for moment in moments
    ]
    return request, rows


async def test_every_table_growing_with_time_has_its_months_with_the_parents_keys_and_indexes(
    pg: BaseDBAsyncClient,
) -> None:
    current = parts.month_of(datetime.now(WIB).date())
    primary_keys = {
        "audit_entry": "(id, at)",
        "activity_claim": "(claim_id, start)",
        "corrected_punch": "(id, punched_at)",
    }
    for table in GROWING:
        assert await parts.is_partitioned(pg, table), table
        found = await parts.partitions(pg, table)
        assert [p.month for p in found] == [None, *parts.scheduled_months(current)], table
        assert found[0].name == f"{table}_default"
        parent = await index_columns(pg, table)
        assert f"btree {primary_keys[table]}" in parent, parent  # the primary key holds the partition key
        for partition in found:
            assert await index_columns(pg, partition.name) == parent, partition.name
    assert "btree (nip, start)" in await index_columns(pg, "activity_claim_default")  # the model's own index
    # The corrected punch still points at its request: a request with corrections cannot be deleted.
    request, _ = await request_with_corrections(datetime.now(UTC))
    with pytest.raises(OperationalError):
        await request.delete()


async def test_rows_land_in_their_months_partition_and_a_far_date_in_the_default_one(pg: BaseDBAsyncClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    this_month = f"{parts.month_of(now):%Y_%m}"
    old = datetime(2015, 3, 2, 1, 0, tzinfo=UTC)
    far = datetime(2040, 6, 1, 1, 0, tzinfo=UTC)
    # 06:30 WIT on 1 December is 21:30 UTC on 30 November: the partition of December (bounds at WIB midnight).
    first_morning = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)
    async with in_transaction("postgres") as tx:
        await parts.ensure_months(tx, [date(2026, 12, 1)])
    await record_audit("budi", "admin", "grade.set", "now", "unit-a", {})
    for label, moment in {"old": old, "far": far}.items():
        await AuditEntry.create(at=moment, username="budi", role="admin", action="a", target=label)
    audit = {row.target: str(row.id) for row in await AuditEntry.all()}
    assert await where_is(pg, "audit_entry", "id") == {
        audit["now"]: f"audit_entry_{this_month}", audit["old"]: "audit_entry_default",
        audit["far"]: "audit_entry_default",
    }  # fmt: skip
    for claim_id, start in {"c-now": now, "c-old": old, "c-far": far, "c-dec": first_morning}.items():
        await claim(claim_id, start)
    assert await where_is(pg, "activity_claim", "claim_id") == {
        "c-now": f"activity_claim_{this_month}", "c-old": "activity_claim_default",
        "c-far": "activity_claim_default", "c-dec": "activity_claim_2026_12",
    }  # fmt: skip
    _, corrections = await request_with_corrections(now, far)
    assert await where_is(pg, "corrected_punch", "id") == {
        str(corrections[0].id): f"corrected_punch_{this_month}",
        str(corrections[1].id): "corrected_punch_default",
    }
    # Updating a claim through the ORM (by its claim id alone) works across partitions, and a claim whose
    # start is corrected moves to its new month's partition.
    row = await ActivityClaimRecord.get(claim_id="c-old")
    row.state, row.start = "approved", now
    await row.save()
    assert (await where_is(pg, "activity_claim", "claim_id"))["c-old"] == f"activity_claim_{this_month}"
    assert await ActivityClaimRecord.filter(state="approved").count() == 1
    # Making a month moves its rows out of the default partition, in every table.
    async with in_transaction("postgres") as tx:
        made = await parts.ensure_months(tx, [date(2040, 6, 1)])
    assert made == [parts.partition_name(date(2040, 6, 1), table) for table in parts.TABLES]
    assert (await where_is(pg, "activity_claim", "claim_id"))["c-far"] == "activity_claim_2040_06"
    assert (await where_is(pg, "audit_entry", "id"))[audit["far"]] == "audit_entry_2040_06"
    assert (await where_is(pg, "corrected_punch", "id"))[str(corrections[1].id)] == "corrected_punch_2040_06"
    assert await AuditEntry.all().count() == 3 and await ActivityClaimRecord.all().count() == 4


async def test_an_old_month_of_audit_or_claims_is_detached_and_attached_back_per_table(pg: BaseDBAsyncClient) -> None:
    today = datetime.now(WIB).date()
    old = parts.add_months(parts.month_of(today), -4)
    in_old = datetime(old.year, old.month, 10, 3, 0, tzinfo=UTC)
    async with in_transaction("postgres") as tx:
        await parts.ensure_months(tx, [old])
    await AuditEntry.create(at=in_old, username="budi", role="admin", action="a", target="old")
    await record_audit("budi", "admin", "a", "new", None, {})
    await claim("c-old", in_old)
    await claim("c-new", datetime.now(UTC))
    async with in_transaction("postgres") as tx:
        archived = await parts.detach_month(tx, old, table="audit_entry")
    assert archived == f"archive.audit_entry_{old:%Y_%m}"
    assert list(await AuditEntry.all().values_list("target", flat=True)) == ["new"]
    assert await ActivityClaimRecord.all().count() == 2  # another table's month stays
    assert await parts.archived_months(pg, "audit_entry") == [f"audit_entry_{old:%Y_%m}"]
    assert await parts.archived_months(pg, "activity_claim") == [] and await parts.archived_months(pg) == []
    async with in_transaction("postgres") as tx:
        await parts.detach_month(tx, old, table="activity_claim")
    assert list(await ActivityClaimRecord.all().values_list("claim_id", flat=True)) == ["c-new"]
    _, rows = await pg.execute_query(f'SELECT "claim_id" FROM archive."activity_claim_{old:%Y_%m}"')
    assert [row["claim_id"] for row in rows] == ["c-old"]
    with pytest.raises(parts.PartitionError, match="terlalu baru"):
        async with in_transaction("postgres") as tx:
            await parts.detach_month(tx, parts.month_of(today), table="activity_claim")
    with pytest.raises(parts.PartitionError, match="tidak dipartisi"):
        async with in_transaction("postgres") as tx:
            await parts.detach_month(tx, old, table="monthly_score")
    for table in ("audit_entry", "activity_claim"):
        async with in_transaction("postgres") as tx:
            assert await parts.attach_month(tx, old, table=table) == f"{table}_{old:%Y_%m}"
    assert sorted(await AuditEntry.all().values_list("target", flat=True)) == ["new", "old"]
    assert sorted(await ActivityClaimRecord.all().values_list("claim_id", flat=True)) == ["c-new", "c-old"]
    assert (await where_is(pg, "activity_claim", "claim_id"))["c-old"] == f"activity_claim_{old:%Y_%m}"


def test_the_partitions_command_takes_a_table(postgres_url: str) -> None:
    env = {**os.environ, "KINERJA_DB_URL": postgres_url}

    def kinerja(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(Path(sys.executable).parent / "kinerja"), "server", "partitions", *args]
        return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)

    listing = kinerja("list", "--table", "activity_claim")
    assert listing.returncode == 0, listing.stderr
    names = [line.split("\t")[0] for line in listing.stdout.splitlines()]
    assert names[0] == "activity_claim_default" and len(names) == 1 + 1 + 1 + 3  # default, last, this, 3 ahead
    assert all(name.startswith("activity_claim_") for name in names)
    assert kinerja("list").stdout.startswith("punch_default\t")  # the table by default, as before
    refused = kinerja("detach", "2019-01", "--table", "audit_entry")
    assert refused.returncode == 2 and "tidak punya partisi audit_entry" in refused.stderr
    unknown = kinerja("list", "--table", "monthly_score")
    assert unknown.returncode == 2 and "tidak dipartisi" in unknown.stderr


async def migrate_to(name: str) -> None:
    """The migrations up to `name` only, recorded as server.db.migrate_schema records them."""
    async with in_transaction("postgres") as tx:
        executor = MigrationExecutor(tx, {APP: tortoise_config_for("postgres")})
        recorder = _Recorder(tx, table_name=MIGRATION_TABLE)
        executor.recorder = executor.loader.recorder = recorder
        await recorder.ensure_schema(executor._schema_editor(atomic=False))
        await executor.migrate([MigrationTarget(APP, name)])


async def test_migration_0013_converts_existing_tables_with_their_rows_and_ids(postgres_url: str) -> None:
    """A database at 0012 with audit entries, claims and corrected punches of several months: after 0013
    every row is there, in its month's partition, with its id, and the ids go on from where they were."""
    context = await open_database(postgres_url, create_schema=False)
    try:
        connection = Tortoise.get_connection("postgres")
        await migrate_to("0012_gateway_telemetry_history")
        assert not await parts.is_partitioned(connection, "audit_entry")
        moments = {
            "jan": datetime(2026, 1, 31, 23, 30, tzinfo=UTC),  # 06:30 WIB on 1 February
            "now": datetime.now(UTC).replace(microsecond=0),
            "reset": datetime(2000, 1, 1, tzinfo=UTC),
        }
        for label, moment in moments.items():
            await AuditEntry.create(at=moment, username="budi", role="admin", action="a", target=label)
            await claim(f"c-{label}", moment)
        _, corrections = await request_with_corrections(*moments.values())
        before = {
            table: sorted(map(dict, await connection.execute_query_dict(f'SELECT * FROM "{table}"')), key=repr)
            for table in GROWING
        }
        assert await migrate_schema("postgres", up_to="0013_time_partitions") == ["0013_time_partitions"]
        for table in GROWING:
            after = sorted(map(dict, await connection.execute_query_dict(f'SELECT * FROM "{table}"')), key=repr)
            assert after == before[table], table  # every row and id kept
        this_month = f"{parts.month_of(moments['now']):%Y_%m}"
        audit = {row.target: str(row.id) for row in await AuditEntry.all()}
        assert await where_is(connection, "audit_entry", "id") == {
            audit["jan"]: "audit_entry_2026_02", audit["now"]: f"audit_entry_{this_month}",
            audit["reset"]: "audit_entry_default",
        }  # fmt: skip
        assert await where_is(connection, "activity_claim", "claim_id") == {
            "c-jan": "activity_claim_2026_02", "c-now": f"activity_claim_{this_month}",
            "c-reset": "activity_claim_default",
        }  # fmt: skip
        ids = [str(row.id) for row in corrections]
        assert await where_is(connection, "corrected_punch", "id") == {
            ids[0]: "corrected_punch_2026_02",
            ids[1]: f"corrected_punch_{this_month}",
            ids[2]: "corrected_punch_default",
        }
        # The sequences go on: new rows collide with none of the converted ones.
        await record_audit("budi", "admin", "a", "later", None, {})
        _, more = await request_with_corrections(moments["now"])
        assert (await AuditEntry.get(target="later")).id > max(map(int, audit.values()))
        assert more[0].id > max(row.id for row in corrections)
        assert await migrate_schema("postgres", up_to="0013_time_partitions") == []
    finally:
        await close_database(context)


async def test_sqlite_keeps_plain_tables_for_audit_claims_and_corrections(tmp_path: Path) -> None:
    context = await open_database(f"sqlite://{tmp_path / 'one.sqlite3'}")
    try:
        connection = Tortoise.get_connection("sqlite")
        for table in GROWING:
            _, rows = await connection.execute_query("SELECT name FROM sqlite_master WHERE name LIKE ?", [f"{table}%"])
            assert {row["name"] for row in rows} == {table}
        await claim("c-1", datetime(2040, 6, 1, tzinfo=UTC))
        await record_audit("budi", "admin", "a", "t", None, {})
        assert await ActivityClaimRecord.all().count() == 1 and await AuditEntry.all().count() == 1
    finally:
        await close_database(context)
