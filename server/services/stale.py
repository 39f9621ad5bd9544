"""Marking unit-months stale: what the scoring queue (server/services/scoring_queue.py) works through.

A unit-month is stale when something its scores are computed from changed: a punch stored (marked by
the ingest writer in the punches' own transaction, one upsert per group), an excuse, a corrected punch,
an activity claim or a master-data change (employee, PIN mapping: tortoise's post-save signals below, and the registry's
bulk import). A mark bumps the row's ``version``, so a worker that was scoring the unit-month meanwhile
leaves the row for the next round instead of clearing it.

Only the marking lives here (no scoring import), so the ingest path and the pages can mark without
pulling in the worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.signals import post_delete, post_save

from server.activity_models import ActivityClaimRecord, ExcuseRecord
from server.models import DevicePin, Employee
from server.request_models import CorrectedPunch
from server.stale_models import StaleUnitMonth

UnitMonth = tuple[str, int, int]  # unit code, year, month

# The scoring reads punches a day either side of its month (a night shift on the last day ends next
# month), so a punch that near a boundary touches both months.
MARGIN = timedelta(days=1)
# A zone an unknown unit is taken in when only UTC is at hand: WIB, the zone most units are in; a punch
# carries its device's own offset, which is used instead where known.
_WIB = timezone(timedelta(hours=7))

_PG_MARK = """
INSERT INTO "stale_unit_month" ("unit_code", "year", "month", "version", "marked_at")
SELECT t.unit_code, t.year, t.month, 1, now()
FROM unnest($1::varchar[], $2::smallint[], $3::smallint[]) AS t(unit_code, year, month)
ORDER BY 1, 2, 3
ON CONFLICT ("unit_code", "year", "month")
DO UPDATE SET "version" = "stale_unit_month"."version" + 1, "marked_at" = now()
"""
_SQLITE_MARK = """
INSERT INTO "stale_unit_month" ("unit_code", "year", "month", "version", "marked_at")
VALUES (?, ?, ?, 1, ?)
ON CONFLICT ("unit_code", "year", "month")
DO UPDATE SET "version" = "stale_unit_month"."version" + 1, "marked_at" = excluded."marked_at"
"""


def months_touched(unit_code: str, moment: datetime, offset_minutes: int | None = None) -> set[UnitMonth]:
    """The unit-months a punch at ``moment`` is read by (its local month, and the neighbour within a day)."""
    zone = _WIB if offset_minutes is None else timezone(timedelta(minutes=offset_minutes))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone)
    return {(unit_code, at.year, at.month) for at in (local - MARGIN, local, local + MARGIN)}


def batch_months(unit_code: str, times: Iterable[datetime]) -> set[UnitMonth]:
    """The unit-months a batch's punches touch, from its earliest and latest punch only (a batch spans
    minutes or days, not months, and this runs on the ingest hot path for every batch)."""
    ordered = sorted(times)
    if not ordered:
        return set()
    first, last = ordered[0], ordered[-1]
    if first.tzinfo is None:
        first, last = first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)
    zone = first.tzinfo if first.utcoffset() else _WIB
    return months_between(unit_code, (first.astimezone(zone) - MARGIN).date(), (last.astimezone(zone) + MARGIN).date())


def months_between(unit_code: str, first: date, last: date) -> set[UnitMonth]:
    """Every unit-month from the month of ``first`` to the month of ``last``."""
    found: set[UnitMonth] = set()
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        found.add((unit_code, year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def running_months(unit_code: str, today: date | None = None) -> set[UnitMonth]:
    """A master-data change (an employee, a PIN) is taken to touch this month and the one before (the
    month still being closed); older months keep what they were scored with."""
    today = today or datetime.now(_WIB).date()
    previous = today.replace(day=1) - timedelta(days=1)
    return months_between(unit_code, previous, today)


async def mark_stale(keys: Iterable[UnitMonth], *, dialect: str | None = None, connection: Any = None) -> int:
    """Mark ``keys`` stale in one statement (PostgreSQL) or one executemany (SQLite); returns how many.

    ``connection``: an asyncpg connection inside the caller's transaction (the ingest writer's), or a
    tortoise client; by default the dialect's connection. Sorted, so two writers never deadlock."""
    ordered = sorted(set(keys))
    if not ordered:
        return 0
    if connection is not None and not isinstance(connection, BaseDBAsyncClient):
        units, years, months = (list(column) for column in zip(*ordered, strict=True))
        await connection.execute(_PG_MARK, units, years, months)
        return len(ordered)
    client = connection or (Tortoise.get_connection(dialect) if dialect else StaleUnitMonth._meta.db)
    if client.capabilities.dialect == "postgres":
        units, years, months = (list(column) for column in zip(*ordered, strict=True))
        await client.execute_query(_PG_MARK, [units, years, months])
    else:
        now = datetime.now(UTC)  # written by the adapter in server/db.py, like every other moment
        await client.execute_many(_SQLITE_MARK, [[unit, year, month, now] for unit, year, month in ordered])
    return len(ordered)


async def stale_version(unit_code: str, year: int, month: int) -> int | None:
    """The unit-month's mark version, or None when its stored scores are up to date."""
    row = await StaleUnitMonth.filter(unit_code=unit_code, year=year, month=month).values_list("version", flat=True)
    return row[0] if row else None


async def clear_stale(unit_code: str, year: int, month: int, version: int) -> bool:
    """Clear the mark if it is still ``version`` (nobody touched the unit-month since it was read)."""
    query = StaleUnitMonth.filter(unit_code=unit_code, year=year, month=month, version=version)
    return bool(await query.delete())


# --- what the ORM writes one row at a time: excuses, claims, employees, PIN mappings ---


async def _mark_with(using_db: BaseDBAsyncClient | None, keys: set[UnitMonth]) -> None:
    await mark_stale(keys, connection=using_db or StaleUnitMonth._meta.db)


@post_save(ExcuseRecord)
@post_delete(ExcuseRecord)
async def _excuse_changed(sender: type, instance: ExcuseRecord, *args: Any) -> None:
    await _mark_with(_using(args), months_between(instance.unit_code, instance.first_day, instance.last_day))


@post_save(ActivityClaimRecord)
@post_delete(ActivityClaimRecord)
async def _claim_changed(sender: type, instance: ActivityClaimRecord, *args: Any) -> None:
    await _mark_with(_using(args), months_touched(instance.unit_code, instance.start))


@post_save(CorrectedPunch)
@post_delete(CorrectedPunch)
async def _corrected_punch_changed(sender: type, instance: CorrectedPunch, *args: Any) -> None:
    months = months_touched(instance.unit_code, instance.punched_at, instance.utc_offset_minutes)
    await _mark_with(_using(args), months)


@post_save(Employee)
@post_delete(Employee)
async def _employee_changed(sender: type, instance: Employee, *args: Any) -> None:
    await _mark_with(_using(args), running_months(instance.unit_id))  # type: ignore[attr-defined]


@post_save(DevicePin)
@post_delete(DevicePin)
async def _pin_changed(sender: type, instance: DevicePin, *args: Any) -> None:
    await _mark_with(_using(args), running_months(instance.unit_id))  # type: ignore[attr-defined]


def _using(args: tuple[Any, ...]) -> BaseDBAsyncClient | None:
    """post_save passes (created, using_db, update_fields), post_delete (using_db,): the client either way."""
    for value in args:
        if isinstance(value, BaseDBAsyncClient):
            return value
    return None
