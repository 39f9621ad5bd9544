"""The employee life cycle reaching the devices (issue 18): dated changes applied on their day, and the
areas they changed told to their devices.

A change recorded before its day waits as a pending ``scheduled_change`` row (server/services/history.py).
The runner, one in each server replica that talks to the broker, claims one row at a time: a pending one
whose day has come in its office's zone (the employee's earlier pending changes first), or an applied one
whose areas' devices were not told yet (a change valid at once, or one applied by a replica that died
before telling). The claim is a short transaction setting a lease (PostgreSQL: ``FOR UPDATE SKIP LOCKED``,
so replicas never wait for or take each other's rows; SQLite: one process). Applying is idempotent on its
own (the pending to applied step is the transaction's first write, server.services.history.apply_scheduled);
telling is a sync of each changed area (server.services.areas.sync_area: the complete user list, then
the templates), which the gateways apply idempotently, so a lease that ran out only means a second sync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tortoise import Tortoise
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.area_models import Area
from server.history_models import ScheduledChange
from server.services.areas import CommandSender, sync_area
from server.services.biometric_store import BiometricStore
from server.services.history import APPLIED, PENDING, apply_scheduled
from server.services.scoring_queue import worker_name
from wire.zones import OFFICE_ZONES

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
IDLE_S = 10.0  # how often an idle runner looks for a change whose day has come (and tells the devices)
ACTOR = "centre:life-cycle"
Clock = Callable[[], datetime]


def now_utc() -> datetime:
    return datetime.now(UTC)


_PG_CLAIM = """
WITH taken AS (
    SELECT c."id" FROM "scheduled_change" c
    WHERE (c."lease_until" IS NULL OR c."lease_until" < now())
      AND ((c."status" = 'pending'
            AND c."valid_from" <= CASE c."zone" WHEN 'WITA' THEN $3::date WHEN 'WIT' THEN $4::date ELSE $2::date END
            AND NOT EXISTS (SELECT 1 FROM "scheduled_change" e
                            WHERE e."nip" = c."nip" AND e."status" = 'pending' AND e."valid_from" < c."valid_from"))
           OR ($6::boolean AND c."status" = 'applied' AND c."devices_told_at" IS NULL))
    ORDER BY c."valid_from", c."id"
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
UPDATE "scheduled_change" s SET "lease_until" = now() + $5::interval, "leased_by" = $1
FROM taken WHERE s."id" = taken."id"
RETURNING s."id"
"""  # WITH first: tortoise's execute_query fetches rows only for a statement that does not begin with UPDATE


async def claim(dialect: str, worker: str, now: datetime, *, tell: bool, lease: timedelta = LEASE) -> int | None:
    """Take one change to work on: pending and due in its zone at ``now``, or (``tell``) applied and
    its devices not told yet. Returns its id."""
    days = {name: now.astimezone(zone).date() for name, zone in OFFICE_ZONES.items()}
    if dialect == "postgres":
        client = Tortoise.get_connection(dialect)
        _, rows = await client.execute_query(_PG_CLAIM, [worker, days["WIB"], days["WITA"], days["WIT"], lease, tell])
        return rows[0]["id"] if rows else None
    real_now = datetime.now(UTC)
    async with in_transaction(dialect):
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=real_now)
        pending = await ScheduledChange.filter(free, status=PENDING).order_by("valid_from", "id")
        earliest: dict[str, object] = {}
        for row in await ScheduledChange.filter(status=PENDING).order_by("valid_from"):
            earliest.setdefault(row.nip, row.valid_from)
        due = [r for r in pending if r.valid_from <= days.get(r.zone, days["WIB"]) and earliest[r.nip] == r.valid_from]
        if not due and tell:
            due = list(await ScheduledChange.filter(free, status=APPLIED, devices_told_at__isnull=True)
                       .order_by("valid_from", "id").limit(1))  # fmt: skip
        if not due:
            return None
        await ScheduledChange.filter(id=due[0].id).update(lease_until=real_now + lease, leased_by=worker)
        return due[0].id


async def tell_devices(areas: list[str], sender: CommandSender, store: BiometricStore | None) -> None:
    """Every device of each area gets the area's complete user list again, then its templates."""
    for code in areas:
        area = await Area.get_or_none(code=code)
        if area is None:
            continue
        for report in await sync_area(area, sender, store, actor=ACTOR):
            if report.error:
                log.warning("life cycle: device %s of area %s not told: %s", report.device_serial, code, report.error)


async def work_once(
    dialect: str,
    sender: CommandSender | None,
    store: BiometricStore | None,
    *,
    worker: str | None = None,
    clock: Clock = now_utc,
) -> int | None:
    """Claim one change, apply it if pending, tell its areas' devices; None when there was nothing."""
    worker = (worker or worker_name())[:64]
    claimed = await claim(dialect, worker, clock(), tell=sender is not None)
    if claimed is None:
        return None
    try:
        row = await ScheduledChange.get(id=claimed)
        if row.status == PENDING:
            await apply_scheduled(claimed, f"life-cycle {worker}"[:64])
            row = await ScheduledChange.get(id=claimed)
        if sender is not None and row.status == APPLIED and row.devices_told_at is None:
            await tell_devices(list(row.areas or ()), sender, store)
            await ScheduledChange.filter(id=claimed).update(devices_told_at=datetime.now(UTC))
    finally:
        await ScheduledChange.filter(id=claimed, leased_by=worker).update(lease_until=None, leased_by=None)
    return claimed


async def work_until_done(
    dialect: str, sender: CommandSender | None, store: BiometricStore | None, *, worker: str | None = None,
    clock: Clock = now_utc,
) -> list[int]:  # fmt: skip
    """Every change there is to do now; the ids this caller did."""
    done = []
    while (claimed := await work_once(dialect, sender, store, worker=worker, clock=clock)) is not None:
        done.append(claimed)
    return done


async def run_life_cycle(
    dialect: str, sender: CommandSender | None, store: BiometricStore | None, *, worker: str | None = None,
    clock: Clock = now_utc, idle_s: float = IDLE_S,
) -> None:  # fmt: skip
    """Apply changes on their day and tell the devices, for as long as the task runs (one a replica)."""
    while True:
        try:
            if await work_once(dialect, sender, store, worker=worker, clock=clock) is not None:
                continue
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("applying a dated change or telling its devices failed; trying again later")
        await asyncio.sleep(idle_s)
