"""Scoring as background work shared by replicas: workers take stale unit-months and store their scores.

The queue is the table ``stale_unit_month`` (server/stale_models.py, marked by server/services/stale.py).
A worker claims one row in a short transaction (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so
replicas never wait for or take each other's rows; SQLite: one writer anyway), setting a lease. It then
scores the unit-month chunk by chunk (the month's members by NIP from the dated history, then each
chunk's punches, excuses and claims, so memory is bounded by the chunk and a list of NIPs, not the
unit's punches), storing each chunk's results as it goes, renewing the lease between chunks.
Done, it deletes the row only if its version is still the one it claimed; touched
meanwhile, the row is released for another round. A worker killed mid-way holds no lock (the claim's
transaction committed long ago): its lease expires and another worker takes the unit-month; what the dead
worker had stored is simply rewritten (storing is idempotent).

Why leases rather than a row lock held while scoring: the ingest writer upserts the same rows in the
punches' transaction; a lock held for the seconds a unit takes to score would stall ingestion.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from tortoise import Tortoise
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from scoring import EmployeeMonth, InputError, build_month_plan, score_month
from server.activity_models import ActivityClaimRecord
from server.models import DevicePin, Punch, Unit
from server.services.activities import claim_from, claim_of
from server.services.attendance import WIB, days_of, month_bounds, unit_zones
from server.services.excuses import excuses_for
from server.services.members import go_live_of, unit_members
from server.services.month import NOT_YET, policy_for
from server.services.results import _epoch_seconds, _store, corrected_punches, drop_non_members
from server.services.stale import MARGIN, mark_stale
from server.stale_models import StaleUnitMonth

log = logging.getLogger(__name__)

# Employees scored and stored at once: what bounds a worker's memory, whatever the unit's size.
CHUNK = 1000
LEASE = timedelta(minutes=2)  # renewed after every chunk; a dead worker's unit-month waits this long
IDLE_S = 2.0
# A unit-month whose scoring failed waits this long before a worker tries it again, so one failing
# unit-month is never taken first forever while the rest of the queue waits behind it.
RETRY_AFTER = timedelta(minutes=1)
_WIT = timezone(timedelta(hours=9))  # how often an idle worker looks for new marks


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    unit_code: str
    year: int
    month: int
    version: int


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_PG_CLAIM = """
WITH taken AS (
    SELECT "id" FROM "stale_unit_month"
    WHERE ("lease_until" IS NULL OR "lease_until" < now()) AND ($3::smallint IS NULL OR ("year" = $3 AND "month" = $4))
    ORDER BY "marked_at", "id"
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
UPDATE "stale_unit_month" s SET "lease_until" = now() + $1::interval, "leased_by" = $2
FROM taken WHERE s."id" = taken."id"
RETURNING s."id", s."unit_code", s."year", s."month", s."version"
"""  # WITH first: tortoise's execute_query fetches rows only for a statement that does not begin with UPDATE


async def claim(dialect: str, worker: str, month: date | None = None, lease: timedelta = LEASE) -> Claimed | None:
    """Take one stale unit-month nobody holds (or whose holder's lease ran out), for ``month`` if given."""
    year, number = (month.year, month.month) if month else (None, None)
    client = Tortoise.get_connection(dialect)
    if dialect == "postgres":
        _, rows = await client.execute_query(_PG_CLAIM, [lease, worker, year, number])
        return Claimed(*(rows[0][k] for k in ("id", "unit_code", "year", "month", "version"))) if rows else None
    now = datetime.now(UTC)
    async with in_transaction(dialect):
        query = StaleUnitMonth.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        if month is not None:
            query = query.filter(year=year, month=number)
        row = await query.order_by("marked_at", "id").first()
        if row is None:
            return None
        await StaleUnitMonth.filter(id=row.id).update(lease_until=now + lease, leased_by=worker)
        return Claimed(row.id, row.unit_code, row.year, row.month, row.version)


async def renew(claimed: Claimed, worker: str, lease: timedelta = LEASE) -> None:
    await StaleUnitMonth.filter(id=claimed.id, leased_by=worker).update(lease_until=datetime.now(UTC) + lease)


async def finish(claimed: Claimed, worker: str) -> bool:
    """Clear the mark if nobody touched the unit-month since it was claimed; else release it. True: cleared."""
    if await StaleUnitMonth.filter(id=claimed.id, version=claimed.version).delete():
        return True
    await StaleUnitMonth.filter(id=claimed.id, leased_by=worker).update(lease_until=None, leased_by=None)
    return False


async def score_unit_month(unit_code: str, year: int, month: int, *, chunk: int = CHUNK) -> int:
    """Score and store one unit-month, ``chunk`` employees at a time; returns how many were scored.

    The same inputs as the pages' scoring (server/services/month.py): the unit's zone and policy, the
    running month's days from today on as "not yet", excuses and claims. Between chunks nothing but the
    last NIP is kept."""
    zone = (await unit_zones()).get(unit_code, WIB)
    policy = policy_for(zone)
    first_day = date(year, month, 1)
    first, end = month_bounds(first_day, zone)
    today = datetime.now(UTC).astimezone(zone).date()
    days = days_of(first_day)
    live_from = await go_live_of(unit_code)
    not_yet = {d: NOT_YET for d in days if d >= today}
    open_from = today if today <= days[-1] else None  # today's claims wait for the day's end (no presence flag)
    plan = build_month_plan(policy, year, month, not_yet, live_from=live_from, open_from=open_from)
    # The month's members (the dated history's, server/services/members.py): only NIPs and their spans
    # are held for the whole unit; punches, excuses and claims one chunk at a time.
    members = await unit_members(unit_code, days[0], days[-1])
    everyone = list(members)
    postgres = Punch._meta.db.capabilities.dialect == "postgres"
    for start in range(0, len(everyone), chunk):
        nips = everyone[start : start + chunk]
        if postgres:  # set-based reads without ORM rows (a chunk is ~50,000 punches)
            months = await _inputs_postgres(unit_code, nips, first - MARGIN, end + MARGIN)
            claims = await _claims_postgres(unit_code, nips, first - MARGIN, end + MARGIN)
        else:
            months = await _inputs(unit_code, nips, first - MARGIN, end + MARGIN)
            claims = await _claims(unit_code, nips, first - MARGIN, end + MARGIN)
        excuses = await excuses_for(nips, days[0], days[-1])
        results = [
            score_month(
                plan,
                EmployeeMonth(
                    nip, *months[nip], excuses.get(nip, {}), None, claims.get(nip, ()), employed=members[nip]
                ),
            )
            for nip in nips
        ]
        await _store(unit_code, year, month, results)
    await drop_non_members(unit_code, year, month, everyone)
    return len(everyone)


async def _inputs(
    unit_code: str, nips: list[str], first: datetime, last: datetime
) -> dict[str, tuple[list[int], list[int], list[str]]]:
    """Each employee's punches (times, states, devices) between ``first`` and ``last``, unflagged, in order."""
    pins = {
        (unit, pin): nip
        for unit, pin, nip in await DevicePin.filter(employee_id__in=nips).values_list("unit_id", "pin", "employee_id")
    }
    wanted = set(nips)
    who = Q(employee_nip__in=nips)
    if pins:
        who |= Q(pin__in=sorted({p for _, p in pins}))
    # Within the units whose devices know these employees (a punch names an employee only through a PIN
    # mapping of its own unit): the (unit_code, punched_at) index finds the rows, not a scan of every punch.
    units = sorted({unit_code} | {u for u, _ in pins})
    found: dict[str, tuple[list[int], list[int], list[str]]] = {nip: ([], [], []) for nip in nips}
    rows = (
        await Punch.filter(who, unit_code__in=units, punched_at__gte=first, punched_at__lt=last, flag__isnull=True)
        .order_by("punched_at", "id")
        .values_list("employee_nip", "unit_code", "pin", "punched_at", "state", "device_serial")
    )
    for employee_nip, punch_unit, pin, punched_at, state, serial in rows:
        nip = employee_nip or pins.get((punch_unit, pin))
        if nip not in wanted:
            continue  # a PIN of the same number in another unit, or someone else's punch
        times, states, devices = found[nip]
        times.append(_epoch_seconds(punched_at))
        states.append(state)
        devices.append(serial)
    for nip, punches in (await corrected_punches(nips, first, last)).items():
        for at, state, device in punches:  # after the device punches: the scoring sorts them in
            found[nip][0].append(at)
            found[nip][1].append(state)
            found[nip][2].append(device)
    return found


# What `_inputs` asks through the ORM, with the instants as epoch seconds computed by PostgreSQL
# (floor, as `_epoch_seconds`), so no datetime is built per punch. A chunk's NIPs are matched by
# `IN (SELECT unnest(...))`, which PostgreSQL hashes once per execution, not by `= ANY(...)`: once a
# connection has run a statement five times PostgreSQL may switch to its generic plan, where `= ANY` of a
# parameter is a linear search of the 1,000 NIPs for each of the chunk's ~44,000 punches (0.43 ms of
# database CPU per employee-month instead of 0.07, measured on bench_national's data).
_PG_PUNCHES = """
SELECT "employee_nip", "unit_code", "pin", floor(extract(epoch FROM "punched_at"))::bigint AS "at", "state",
       "device_serial"
FROM "punch"
WHERE ("employee_nip" IN (SELECT unnest($1::varchar[])) OR "pin" IN (SELECT unnest($2::varchar[])))
  AND "unit_code" = ANY($3::varchar[])
  AND "punched_at" >= $4 AND "punched_at" < $5 AND "flag" IS NULL
ORDER BY "punched_at", "id"
"""
_PG_PINS = 'SELECT "unit_id", "pin", "employee_id" FROM "device_pin" WHERE "employee_id" = ANY($1::varchar[])'
_PG_CLAIMS = """
SELECT "nip", "claim_id", "activity", floor(extract(epoch FROM "start"))::bigint AS "start", "quantity", "minutes",
       "output", "evidence", "state", "reason"
FROM "activity_claim"
WHERE "unit_code" = $1 AND "nip" IN (SELECT unnest($2::varchar[])) AND "start" >= $3 AND "start" < $4
ORDER BY "start", "claim_id"
"""


async def _inputs_postgres(
    unit_code: str, nips: list[str], first: datetime, last: datetime
) -> dict[str, tuple[list[int], list[int], list[str]]]:
    """:func:`_inputs` on PostgreSQL: the same rows, in the same order, read as plain tuples."""
    client = Punch._meta.db
    _, pin_rows = await client.execute_query(_PG_PINS, [nips])
    pins = {(unit, pin): nip for unit, pin, nip in pin_rows}
    wanted = set(nips)
    units = sorted({unit_code} | {u for u, _ in pins})
    found: dict[str, tuple[list[int], list[int], list[str]]] = {nip: ([], [], []) for nip in nips}
    pin_numbers = sorted({p for _, p in pins})
    _, rows = await client.execute_query(_PG_PUNCHES, [nips, pin_numbers, units, first, last])
    for employee_nip, punch_unit, pin, at, state, serial in rows:
        nip = employee_nip or pins.get((punch_unit, pin))
        if nip not in wanted:
            continue  # a PIN of the same number in another unit, or someone else's punch
        times, states, devices = found[nip]
        times.append(at)
        states.append(state)
        devices.append(serial)
    for nip, punches in (await corrected_punches(nips, first, last)).items():
        for at, state, device in punches:  # after the device punches: the scoring sorts them in
            found[nip][0].append(at)
            found[nip][1].append(state)
            found[nip][2].append(device)
    return found


async def _claims_postgres(unit_code: str, nips: list[str], first: datetime, last: datetime) -> dict[str, list]:
    """:func:`_claims` on PostgreSQL, without an ORM object per claim (ties in start: by claim id)."""
    _, rows = await ActivityClaimRecord._meta.db.execute_query(_PG_CLAIMS, [unit_code, nips, first, last])
    found: dict[str, list] = {}
    for nip, *columns in rows:
        found.setdefault(nip, []).append(claim_from(*columns))
    return found


async def _claims(unit_code: str, nips: list[str], first: datetime, last: datetime) -> dict[str, list]:
    rows = await ActivityClaimRecord.filter(unit_code=unit_code, nip__in=nips, start__gte=first, start__lt=last)
    found: dict[str, list] = {}
    for row in sorted(rows, key=lambda r: r.start):
        found.setdefault(row.nip, []).append(claim_of(row))
    return found


async def work_once(dialect: str, worker: str, month: date | None = None) -> Claimed | None:
    """Claim, score and finish one stale unit-month; None when there was nothing to take."""
    claimed = await claim(dialect, worker, month)
    if claimed is None:
        return None
    try:
        await score_unit_month(claimed.unit_code, claimed.year, claimed.month)
    except InputError as refused:
        # The scoring refuses the month itself (before the policy is in force: a device's flat-battery
        # 2000-01-01, an excuse typed for 1900): no retry can score it, so the mark is dropped, and said.
        log.warning(
            "unit %s %d-%02d cannot be scored (%s); its stale mark is dropped",
            claimed.unit_code, claimed.year, claimed.month, refused,
        )  # fmt: skip
        await StaleUnitMonth.filter(id=claimed.id, version=claimed.version).delete()
        return claimed
    except asyncio.CancelledError:
        # Shutting down: let another replica take it now rather than after the lease.
        await StaleUnitMonth.filter(id=claimed.id, leased_by=worker).update(lease_until=None, leased_by=None)
        raise
    except Exception:
        retry_at = datetime.now(UTC) + RETRY_AFTER
        await StaleUnitMonth.filter(id=claimed.id, leased_by=worker).update(lease_until=retry_at, leased_by=None)
        raise
    await finish(claimed, worker)
    return claimed


async def run_worker(dialect: str, worker: str | None = None, *, idle_s: float = IDLE_S) -> None:
    """Work through stale unit-months for as long as the task runs (each server replica runs one)."""
    worker = worker or worker_name()
    marked_day: tuple[date, date] | None = None
    while True:
        try:
            marked_day = await _new_day(marked_day)
            if await work_once(dialect, worker) is not None:
                continue
        except asyncio.CancelledError:
            raise
        except Exception:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Cancelled mid-transaction, the database client turned the cancel into its own error
                # ("connection released back to the pool"): stop, or shutdown waits on this loop forever.
                raise asyncio.CancelledError from None
            log.exception("scoring a stale unit-month failed; trying again later")
        await asyncio.sleep(idle_s)


async def _new_day(marked: tuple[date, date] | None) -> tuple[date, date]:
    """The running month's scores count the days up to today: when the day changes in WIT or in WIB (the
    first and the last of the three zones to reach midnight) and when the worker starts, every unit's
    running month is marked stale, so yesterday stops being a "not yet" day."""
    now = datetime.now(UTC)
    days = (now.astimezone(_WIT).date(), now.astimezone(WIB).date())
    if marked != days:
        for year, month in sorted({(day.year, day.month) for day in days}):
            await mark_month(year, month)
    return days


async def mark_month(year: int, month: int) -> int:
    """Mark every unit's ``year``-``month`` stale (the month-end run); returns how many units."""
    units = list(await Unit.all().order_by("code").values_list("code", flat=True))
    for start in range(0, len(units), 1000):
        await mark_stale((unit, year, month) for unit in units[start : start + 1000])
    return len(units)


async def score_whole_month(dialect: str, month: date, worker: str | None = None, *, mark: bool = True) -> int:
    """The month-end run: mark every unit's month stale (unless ``mark`` is off) and work until no mark of
    the month is left, other workers' included (a dead worker's is taken once its lease expires).
    Returns the number of unit-months this process scored."""
    worker = worker or worker_name()
    if mark:
        await mark_month(month.year, month.month)
    done = 0
    while True:
        if await work_once(dialect, worker, month) is not None:
            done += 1
            continue
        if not await StaleUnitMonth.exists(year=month.year, month=month.month):
            return done
        await asyncio.sleep(1.0)  # held by another worker: wait for it to finish or its lease to expire
