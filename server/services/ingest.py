"""Storing punch batches: validated, idempotent, many batches per transaction, each answered after commit.

Knows the database, not MQTT: the consumer hands it parsed messages and is told when each is committed.

Why a write-behind writer: at the morning rush hundreds of gateways publish at once, and one
transaction per batch would make the commit (an fsync) the ceiling. The writer takes whatever batches
are waiting, stores them all in one transaction and only then resolves each batch's future, so every
ack still follows its own commit. On PostgreSQL the punches of a whole group go in as one
`INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING`, which also tells which rows
were new, so each batch learns how many of its punches were stored and how many were duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import DBConnectionError
from tortoise.transactions import in_transaction

from server.models import Device, DevicePin, HeldBatch, PendingDevice, Punch, QuarantinedMessage
from server.services.stale import UnitMonth, batch_months, mark_stale
from wire.contract import AckStatus, PunchBatch, PunchRecord, TopicAddress, TopicKind

log = logging.getLogger(__name__)

# A device clock this far ahead of the server's is wrong, not early.
FUTURE_TOLERANCE = timedelta(hours=1)
# ZK firmware resets to 2000-01-01 after losing battery power; no real punch is that old.
OLDEST_PLAUSIBLE = datetime(2001, 1, 1, tzinfo=UTC)

# One transaction holds at most this many punches; more waiting batches go in the next one.
MAX_PUNCHES_PER_TRANSACTION = 20_000


# What the centre does with a device it has never seen: "pending" (the rule) holds its punches until an
# administrator of the unit assigns it; "accept" gives it to the first gateway that sends it (a lab, or a
# single-office embedded install where the one gateway is the administrator's own).
NEW_DEVICE_POLICIES = ("pending", "accept")


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What became of one batch: stored (with how many were there already), held for a pending device,
    or refused (quarantined: the device belongs to another gateway, or the database could not hold it)."""

    stored: int
    duplicates: int
    outcome: AckStatus = AckStatus.STORED
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message to keep in quarantine: the raw bytes, untouched, and why."""

    topic: str
    payload: bytes
    reason: str
    gateway_id: str | None

    @property
    def digest(self) -> str:
        """The same message delivered twice (a redelivery after a restart) has the same digest."""
        return hashlib.sha256(self.topic.encode("utf-8", "replace") + b"\n" + self.payload).hexdigest()

    @property
    def storable_reason(self) -> str:
        # The reason quotes the sender's values; repr() already escapes NUL, but be sure of it.
        return self.reason.replace("\x00", "\\0").encode("utf-8", "replace").decode("utf-8")[:4000]


def is_transient(error: BaseException) -> bool:
    """A failure that may pass by itself (the database unreachable or restarting, a deadlock, a lock):
    the batch is judged again when the gateway resends. Anything else is the message's own fault."""
    import asyncpg

    transient: tuple[type[BaseException], ...] = (
        OSError, TimeoutError, DBConnectionError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
        asyncpg.exceptions.TransactionRollbackError, asyncpg.exceptions.InsufficientResourcesError,
        asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.CannotConnectNowError,
    )  # fmt: skip
    seen: BaseException | None = error
    for _ in range(8):  # tortoise wraps the driver's error; look along the chain
        if seen is None:
            return False
        if isinstance(seen, transient):
            return True
        if isinstance(seen, sqlite3.OperationalError) and "locked" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which batches of a group are stored, held for a pending device, or refused, and the devices the
    "accept" policy gives to their first gateway."""

    store: list[int]
    hold: list[int]
    refuse: dict[int, str]
    claims: dict[str, str]


def _plan(batches: Sequence[PunchBatch], owners: dict[str, str | None], new_devices: str) -> _Plan:
    store, hold, refuse, claims = [], [], {}, {}
    owners = dict(owners)
    for index, batch in enumerate(batches):
        owner = owners.get(batch.device_serial)
        if owner is None and new_devices == "accept":
            owner = owners[batch.device_serial] = claims[batch.device_serial] = batch.gateway_id
        if owner == batch.gateway_id:
            store.append(index)
        elif owner is not None:
            # Not which gateway or unit: that is none of the sender's business.
            refuse[index] = (
                f"device {batch.device_serial} is registered to another gateway, not {batch.gateway_id}: "
                "its punches are not taken from here"
            )
        else:
            hold.append(index)
    return _Plan(store, hold, refuse, claims)


def _raw_of(batch: PunchBatch, raw: tuple[str, bytes] | None) -> tuple[str, bytes]:
    if raw is not None:
        return raw
    return TopicAddress(batch.unit, batch.gateway_id, TopicKind.PUNCHES).topic, batch.to_json()


def identity_mismatch(batch: PunchBatch, address: TopicAddress) -> str | None:
    """The broker's ACL vouches for the topic; a payload claiming another gateway or unit is forged."""
    if batch.gateway_id != address.gateway:
        return f"gateway_id {batch.gateway_id!r} in the payload is not the topic's gateway {address.gateway!r}"
    if batch.unit != address.unit:
        return f"unit {batch.unit!r} in the payload is not the topic's unit {address.unit!r}"
    return None


def suspect_time(moment: datetime, now: datetime) -> str | None:
    if moment < OLDEST_PLAUSIBLE:
        return "clock_reset"
    if moment > now + FUTURE_TOLERANCE:
        return "future"
    return None


def _offset_minutes(punch: PunchRecord) -> int:
    return int(punch.time.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]


# --- the two stores: PostgreSQL (production, raw asyncpg for the hot path) and SQLite (embedded, ORM) ---

_PG_INSERT_PUNCHES = """
INSERT INTO "punch" ("device_serial", "pin", "punched_at", "utc_offset_minutes", "state", "verify",
                     "unit_code", "gateway_id", "batch_id", "flag", "received_at", "employee_nip")
SELECT t.device_serial, t.pin, t.punched_at, t.utc_offset_minutes, t.state, t.verify,
       t.unit_code, t.gateway_id, t.batch_id, t.flag, now(), dp.employee_id
FROM unnest($1::varchar[], $2::varchar[], $3::timestamptz[], $4::smallint[], $5::smallint[], $6::smallint[],
            $7::varchar[], $8::varchar[], $9::varchar[], $10::varchar[])
     AS t(device_serial, pin, punched_at, utc_offset_minutes, state, verify, unit_code, gateway_id, batch_id, flag)
LEFT JOIN "device_pin" dp ON dp.unit_id = t.unit_code AND dp.pin = t.pin
ON CONFLICT DO NOTHING
RETURNING "batch_id"
"""

_PG_INSERT_QUARANTINE = (
    'INSERT INTO "quarantined_message" ("topic", "payload", "reason", "gateway_id", "received_at", "digest") '
    "VALUES ($1, $2, $3, $4, now(), $5) ON CONFLICT DO NOTHING"
)
_PG_DEVICE_OWNERS = 'SELECT "serial", "gateway_id" FROM "device" WHERE "serial" = ANY($1::varchar[])'
_PG_CLAIM_DEVICE = """
INSERT INTO "device" ("serial", "name", "profile", "gateway_id", "held_punches", "quarantined")
VALUES ($1, '', '', $2, 0, 0)
ON CONFLICT ("serial") DO UPDATE SET "gateway_id" = EXCLUDED."gateway_id" WHERE "device"."gateway_id" IS NULL
"""
_PG_HOLD_BATCH = (
    'INSERT INTO "held_batch" ("gateway_id", "unit_code", "device_serial", "batch_id", "punches", "payload", '
    '"received_at") VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT DO NOTHING'
)
_PG_PENDING_DEVICE = """
INSERT INTO "pending_device" ("serial", "gateway_id", "unit_code", "name", "first_seen_at", "last_seen_at")
VALUES ($1, $2, $3, $4, now(), now())
ON CONFLICT ("gateway_id", "serial") DO UPDATE SET "last_seen_at" = now()
"""


async def _store_postgres(
    batches: Sequence[PunchBatch],
    rejections: Sequence[Rejection],
    raws: Sequence[tuple[str, bytes] | None],
    new_devices: str,
) -> list[StoreResult]:
    now = datetime.now(UTC)
    client = Tortoise.get_connection("postgres")
    async with client.acquire_connection() as connection, connection.transaction():
        serials = sorted({batch.device_serial for batch in batches})
        owners = {r[0]: r[1] for r in await connection.fetch(_PG_DEVICE_OWNERS, serials)} if serials else {}
        plan = _plan(batches, owners, new_devices)
        for serial, gateway_id in sorted(plan.claims.items()):
            await connection.execute(_PG_CLAIM_DEVICE, serial, gateway_id)
        refused = [
            Rejection(*_raw_of(batches[index], raws[index]), reason, batches[index].gateway_id)
            for index, reason in plan.refuse.items()
        ]
        for rejection in [*rejections, *refused]:
            await connection.execute(
                _PG_INSERT_QUARANTINE, rejection.topic[:255], rejection.payload, rejection.storable_reason,
                rejection.gateway_id, rejection.digest,
            )  # fmt: skip
        for index in plan.hold:
            batch = batches[index]
            await connection.execute(
                _PG_HOLD_BATCH, batch.gateway_id, batch.unit, batch.device_serial, batch.batch_id,
                len(batch.punches), _raw_of(batch, raws[index])[1],
            )  # fmt: skip
            await connection.execute(_PG_PENDING_DEVICE, batch.device_serial, batch.gateway_id, batch.unit, "")
        rows: list[tuple[Any, ...]] = []
        for index in plan.store:
            batch = batches[index]
            for punch in batch.punches:
                rows.append(
                    (batch.device_serial, punch.pin, punch.time, _offset_minutes(punch), punch.state, punch.verify,
                     batch.unit, batch.gateway_id, batch.batch_id, suspect_time(punch.time, now))
                )  # fmt: skip
        # Always the same order of keys: two replicas inserting overlapping rows cannot deadlock each other.
        rows.sort(key=lambda row: (row[6], row[0], row[1], row[2], row[4]))
        columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(10)]
        inserted = await connection.fetch(_PG_INSERT_PUNCHES, *columns) if rows else []
        fresh = {record[0] for record in inserted}  # scores to redo: only batches that added a punch
        await mark_stale(_touched(batches, plan.store, fresh), connection=connection)
    new_by_batch: dict[str, int] = {}
    for record in inserted:
        new_by_batch[record[0]] = new_by_batch.get(record[0], 0) + 1
    results = []
    for index, batch in enumerate(batches):
        results.append(_result(index, batch, plan, new_by_batch))
    return results


def _touched(batches: Sequence[PunchBatch], stored: Sequence[int], fresh: set[str]) -> set[UnitMonth]:
    """The unit-months whose scores the group's new punches change (server/services/stale.py)."""
    found: set[UnitMonth] = set()
    for index in stored:
        batch = batches[index]
        if batch.batch_id in fresh:
            found |= batch_months(batch.unit, (punch.time for punch in batch.punches))
    return found


def _result(index: int, batch: PunchBatch, plan: _Plan, new_by_batch: dict[str, int]) -> StoreResult:
    if index in plan.refuse:
        return StoreResult(0, 0, AckStatus.REJECTED, plan.refuse[index])
    if index not in plan.store:
        reason = f"device {batch.device_serial} is pending: its unit has not assigned it to this gateway yet"
        return StoreResult(0, 0, AckStatus.HELD, reason)
    # A batch id twice in one group (a resend overtaking its own ack): the first takes the credit.
    stored = new_by_batch.pop(batch.batch_id, 0)
    return StoreResult(stored=stored, duplicates=len(batch.punches) - stored)


async def _store_batch_sqlite(batch: PunchBatch, now: datetime) -> int:
    """Insert the punches of one batch the plan stores that the table does not have yet; how many were new."""
    unique: dict[tuple[str, datetime, int], PunchRecord] = {}
    for punch in batch.punches:
        unique.setdefault((punch.pin, punch.time.astimezone(UTC), punch.state), punch)
    times = [key[1] for key in unique]
    pins = sorted({key[0] for key in unique})
    existing = {
        (pin, at.astimezone(UTC), state)
        for pin, at, state in await Punch.filter(
            unit_code=batch.unit,
            device_serial=batch.device_serial,
            pin__in=pins,
            punched_at__gte=min(times),
            punched_at__lte=max(times),
        ).values_list("pin", "punched_at", "state")
    }
    mapped = dict(await DevicePin.filter(unit_id=batch.unit, pin__in=pins).values_list("pin", "employee_id"))
    new = [
        Punch(
            device_serial=batch.device_serial,
            pin=punch.pin,
            punched_at=key[1],
            utc_offset_minutes=_offset_minutes(punch),
            state=punch.state,
            verify=punch.verify,
            unit_code=batch.unit,
            gateway_id=batch.gateway_id,
            batch_id=batch.batch_id,
            flag=suspect_time(key[1], now),
            employee_nip=mapped.get(punch.pin),
        )
        for key, punch in unique.items()
        if key not in existing
    ]
    if new:
        await Punch.bulk_create(new, ignore_conflicts=True)
    return len(new)


async def _store_sqlite(
    batches: Sequence[PunchBatch],
    rejections: Sequence[Rejection],
    raws: Sequence[tuple[str, bytes] | None],
    new_devices: str,
) -> list[StoreResult]:
    now = datetime.now(UTC)
    new_by_batch: dict[str, int] = {}
    async with in_transaction("sqlite") as tx:
        serials = sorted({batch.device_serial for batch in batches})
        owners = dict(await Device.filter(serial__in=serials).values_list("serial", "gateway_id")) if serials else {}
        plan = _plan(batches, owners, new_devices)
        for serial, gateway_id in sorted(plan.claims.items()):
            device, _ = await Device.get_or_create(serial=serial, defaults={"gateway_id": gateway_id})
            if device.gateway_id is None:
                device.gateway_id = gateway_id
                await device.save(update_fields=["gateway_id"])
        refused = [
            Rejection(*_raw_of(batches[index], raws[index]), reason, batches[index].gateway_id)
            for index, reason in plan.refuse.items()
        ]
        kept: set[str] = set()
        for rejection in [*rejections, *refused]:
            digest = rejection.digest
            if digest in kept or await QuarantinedMessage.exists(digest=digest):
                continue
            kept.add(digest)
            await QuarantinedMessage.create(
                topic=rejection.topic[:255], payload=rejection.payload, reason=rejection.storable_reason,
                gateway_id=rejection.gateway_id, digest=digest,
            )  # fmt: skip
        for index in plan.hold:
            batch = batches[index]
            if not await HeldBatch.exists(gateway_id=batch.gateway_id, batch_id=batch.batch_id):
                await HeldBatch.create(
                    gateway_id=batch.gateway_id, unit_code=batch.unit, device_serial=batch.device_serial,
                    batch_id=batch.batch_id, punches=len(batch.punches), payload=_raw_of(batch, raws[index])[1],
                    received_at=now,
                )  # fmt: skip
            claim, created = await PendingDevice.get_or_create(
                gateway_id=batch.gateway_id, serial=batch.device_serial,
                defaults={"unit_code": batch.unit, "first_seen_at": now, "last_seen_at": now},
            )  # fmt: skip
            if not created:
                claim.last_seen_at = now
                await claim.save(update_fields=["last_seen_at"])
        for index in plan.store:
            batch = batches[index]
            new_by_batch[batch.batch_id] = new_by_batch.get(batch.batch_id, 0) + await _store_batch_sqlite(batch, now)
        await mark_stale(_touched(batches, plan.store, {b for b, n in new_by_batch.items() if n}), connection=tx)
    return [_result(index, batch, plan, new_by_batch) for index, batch in enumerate(batches)]


async def store_group(
    dialect: str,
    batches: Sequence[PunchBatch],
    rejections: Sequence[Rejection] = (),
    *,
    raws: Sequence[tuple[str, bytes] | None] | None = None,
    new_devices: str = "pending",
) -> list[StoreResult]:
    """Store the batches and quarantine the rejections in ONE transaction; one result per batch.

    A batch is stored only when its device is registered to the sending gateway; a device registered to
    another gateway gets it refused (quarantined), a device nobody registered gets it held (see
    `new_devices`). `raws` are the (topic, payload) each batch arrived as, kept for quarantine or hold."""
    if new_devices not in NEW_DEVICE_POLICIES:
        raise ValueError(f"new_devices: expected one of {NEW_DEVICE_POLICIES}, got {new_devices!r}")
    raw_list = list(raws) if raws is not None else [None] * len(batches)
    if dialect == "postgres":
        return await _store_postgres(batches, rejections, raw_list, new_devices)
    return await _store_sqlite(batches, rejections, raw_list, new_devices)


async def store_batch(batch: PunchBatch, dialect: str = "sqlite", new_devices: str = "accept") -> StoreResult:
    """One batch on its own (tools and tests); by default its device is taken as the sender's when new."""
    (result,) = await store_group(dialect, [batch], new_devices=new_devices)
    return result


async def quarantine(topic: str, payload: bytes, reason: str, gateway_id: str | None, dialect: str = "sqlite") -> None:
    await store_group(dialect, [], [Rejection(topic, payload, reason, gateway_id)])
    log.warning("quarantined a message on %s: %s", topic, reason)


_RESOLVE_PINS = """
UPDATE "punch" SET "employee_nip" = (
    SELECT dp."employee_id" FROM "device_pin" dp WHERE dp."unit_id" = "punch"."unit_code" AND dp."pin" = "punch"."pin"
)
WHERE "employee_nip" IS NULL AND EXISTS (
    SELECT 1 FROM "device_pin" dp WHERE dp."unit_id" = "punch"."unit_code" AND dp."pin" = "punch"."pin"
)
"""


async def resolve_unmapped_punches(dialect: str, unit_code: str | None = None) -> int:
    """Name the employee on punches that arrived before their unit mapped the PIN; returns rows updated."""
    client = Tortoise.get_connection(dialect)
    if unit_code is None:
        count, _ = await client.execute_query(_RESOLVE_PINS)
    else:
        marker = "$1" if dialect == "postgres" else "?"
        count, _ = await client.execute_query(f'{_RESOLVE_PINS} AND "unit_code" = {marker}', [unit_code])
    return count


# --- the write-behind writer ---


@dataclass(slots=True)
class _Job:
    batch: PunchBatch | None
    rejection: Rejection | None
    future: asyncio.Future[StoreResult | None]
    raw: tuple[str, bytes] | None = None  # the batch's topic and payload as they arrived

    @property
    def size(self) -> int:
        return len(self.batch.punches) if self.batch else 1


@dataclass
class WriterCounters:
    transactions: int = 0
    batches: int = 0
    punches_stored: int = 0
    punches_duplicate: int = 0
    quarantined: int = 0
    failed_transactions: int = 0


@dataclass
class IngestWriter:
    """Groups waiting batches and rejections into one transaction each; futures resolved after commit,
    in arrival order.

    `submit_batch` resolves to the batch's StoreResult, `submit_rejection` to None once the raw message
    is in quarantine. Up to `depth` transactions run at once (default 1; on PostgreSQL 2 sends the next
    group while the last one commits, which bench/bench_ingest.py measured as no faster on 2 cores).
    Rows go in sorted by the unique key, so two transactions cannot deadlock on each other. A failed
    group is retried one job at a time, so one bad job cannot sink the others; a job that still fails
    gets the exception (its batch is not acked and the gateway resends it).
    """

    dialect: str
    max_punches: int = MAX_PUNCHES_PER_TRANSACTION
    depth: int = 1
    new_devices: str = "pending"
    counters: WriterCounters = field(default_factory=WriterCounters)
    _queue: asyncio.Queue[_Job] = field(default_factory=asyncio.Queue)
    min_group_punches: int = 2_000
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _running: int = 0
    _queued_punches: int = 0

    def start(self) -> None:
        # SQLite has one writer: a second transaction would only wait for the first.
        slots = asyncio.Semaphore(self.depth if self.dialect == "postgres" else 1)
        committed: asyncio.Queue[tuple[list[_Job], asyncio.Task[list[StoreResult | BaseException | None]]]]
        committed = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._group(slots, committed), name="ingest-writer"),
            asyncio.create_task(self._answer(slots, committed), name="ingest-answers"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            job = self._queue.get_nowait()
            job.future.cancel()

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def submit_batch(
        self, batch: PunchBatch, raw: tuple[str, bytes] | None = None
    ) -> asyncio.Future[StoreResult | None]:
        return self._submit(batch, None, raw)

    def submit_rejection(self, rejection: Rejection) -> asyncio.Future[StoreResult | None]:
        return self._submit(None, rejection)

    def _submit(
        self, batch: PunchBatch | None, rejection: Rejection | None, raw: tuple[str, bytes] | None = None
    ) -> asyncio.Future[StoreResult | None]:
        future: asyncio.Future[StoreResult | None] = asyncio.get_running_loop().create_future()
        job = _Job(batch, rejection, future, raw)
        self._queued_punches += job.size
        self._queue.put_nowait(job)
        return future

    async def _group(self, slots: asyncio.Semaphore, committed: asyncio.Queue) -> None:  # type: ignore[type-arg]
        while True:
            # A free slot first, then the group: whatever arrived meanwhile goes into this transaction.
            await slots.acquire()
            group = [await self._queue.get()]
            size = group[0].size
            # While another transaction runs, a tiny second one would only add a commit: let it grow.
            while self._running and self._queued_punches < self.min_group_punches:
                await asyncio.sleep(0.002)
            while size < self.max_punches and not self._queue.empty():
                job = self._queue.get_nowait()
                group.append(job)
                size += job.size
            self._queued_punches -= size
            self._running += 1
            task = asyncio.create_task(self._write(group))
            task.add_done_callback(lambda _: self._finished(slots))
            committed.put_nowait((group, task))

    def _finished(self, slots: asyncio.Semaphore) -> None:
        self._running -= 1
        slots.release()

    async def _answer(self, slots: asyncio.Semaphore, committed: asyncio.Queue) -> None:  # type: ignore[type-arg]
        # In the order the groups were formed, so acks (and PUBACKs) follow the order of arrival.
        while True:
            group, task = await committed.get()
            outcomes = await task
            for job, outcome in zip(group, outcomes, strict=True):
                if job.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    async def _write(self, group: list[_Job]) -> list[StoreResult | BaseException | None]:
        try:
            return list(await self._commit(group))
        except Exception as exc:
            self.counters.failed_transactions += 1
            if len(group) == 1:
                if group[0].batch is not None and not is_transient(exc):
                    # The database will never hold this batch (a value it refuses): resending cannot
                    # help, so it is quarantined and answered rather than retried for ever.
                    return [await self._refuse(group[0], exc)]
                log.error("storing a batch failed: %s", exc)
                return [RuntimeError(f"the database refused the write: {exc}")]
            log.warning("a group of %d jobs failed to store (%s); retrying them one by one", len(group), exc)
            outcomes: list[StoreResult | BaseException | None] = []
            for job in group:
                outcomes.extend(await self._write([job]))
            return outcomes

    async def _refuse(self, job: _Job, error: Exception) -> StoreResult | BaseException:
        assert job.batch is not None
        reason = f"the database cannot hold this batch ({type(error).__name__}: {str(error)[:300]})"
        topic, payload = _raw_of(job.batch, job.raw)
        log.warning("quarantining batch %s from %s: %s", job.batch.batch_id, job.batch.gateway_id, reason)
        try:
            await store_group(self.dialect, [], [Rejection(topic, payload, reason, job.batch.gateway_id)])
        except Exception as again:
            log.error("could not even quarantine batch %s: %s", job.batch.batch_id, again)
            return RuntimeError(f"the database refused the write: {error}")
        self.counters.quarantined += 1
        return StoreResult(0, 0, AckStatus.REJECTED, reason)

    async def _commit(self, group: list[_Job]) -> list[StoreResult | None]:
        batches = [job.batch for job in group if job.batch is not None]
        raws = [job.raw for job in group if job.batch is not None]
        rejections = [job.rejection for job in group if job.rejection is not None]
        results = iter(await store_group(self.dialect, batches, rejections, raws=raws, new_devices=self.new_devices))
        self.counters.transactions += 1
        self.counters.quarantined += len(rejections)
        outcomes: list[StoreResult | None] = []
        for job in group:
            if job.batch is None:
                outcomes.append(None)
                continue
            result = next(results)
            if result.outcome is AckStatus.REJECTED:
                self.counters.quarantined += 1
            self.counters.batches += 1
            self.counters.punches_stored += result.stored
            self.counters.punches_duplicate += result.duplicates
            outcomes.append(result)
        return outcomes
