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
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from server.models import DevicePin, Punch, QuarantinedMessage
from wire.contract import PunchBatch, PunchRecord, TopicAddress

log = logging.getLogger(__name__)

# A device clock this far ahead of the server's is wrong, not early.
FUTURE_TOLERANCE = timedelta(hours=1)
# ZK firmware resets to 2000-01-01 after losing battery power; no real punch is that old.
OLDEST_PLAUSIBLE = datetime(2001, 1, 1, tzinfo=UTC)

# One transaction holds at most this many punches; more waiting batches go in the next one.
MAX_PUNCHES_PER_TRANSACTION = 20_000


@dataclass(frozen=True, slots=True)
class StoreResult:
    stored: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message to keep in quarantine: the raw bytes, untouched, and why."""

    topic: str
    payload: bytes
    reason: str
    gateway_id: str | None


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
    'INSERT INTO "quarantined_message" ("topic", "payload", "reason", "gateway_id", "received_at") '
    "VALUES ($1, $2, $3, $4, now())"
)


async def _store_postgres(batches: Sequence[PunchBatch], rejections: Sequence[Rejection]) -> list[StoreResult]:
    now = datetime.now(UTC)
    rows: list[tuple[Any, ...]] = []
    for batch in batches:
        for punch in batch.punches:
            rows.append(
                (batch.device_serial, punch.pin, punch.time, _offset_minutes(punch), punch.state, punch.verify,
                 batch.unit, batch.gateway_id, batch.batch_id, suspect_time(punch.time, now))
            )  # fmt: skip
    # Always the same order of keys: two replicas inserting overlapping rows cannot deadlock each other.
    rows.sort(key=lambda row: (row[0], row[1], row[2], row[4]))
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(10)]
    client = Tortoise.get_connection("postgres")
    async with client.acquire_connection() as connection, connection.transaction():
        for rejection in rejections:
            await connection.execute(
                _PG_INSERT_QUARANTINE, rejection.topic[:255], rejection.payload, rejection.reason, rejection.gateway_id
            )
        inserted = await connection.fetch(_PG_INSERT_PUNCHES, *columns) if rows else []
    new_by_batch: dict[str, int] = {}
    for record in inserted:
        new_by_batch[record[0]] = new_by_batch.get(record[0], 0) + 1
    results = []
    for batch in batches:
        # A batch id twice in one group (a resend overtaking its own ack): the first takes the credit.
        stored = new_by_batch.pop(batch.batch_id, 0)
        results.append(StoreResult(stored=stored, duplicates=len(batch.punches) - stored))
    return results


async def _store_sqlite(batches: Sequence[PunchBatch], rejections: Sequence[Rejection]) -> list[StoreResult]:
    now = datetime.now(UTC)
    results = []
    async with in_transaction("sqlite"):
        for rejection in rejections:
            await QuarantinedMessage.create(
                topic=rejection.topic[:255], payload=rejection.payload, reason=rejection.reason,
                gateway_id=rejection.gateway_id,
            )  # fmt: skip
        for batch in batches:
            unique: dict[tuple[str, datetime, int], PunchRecord] = {}
            for punch in batch.punches:
                unique.setdefault((punch.pin, punch.time.astimezone(UTC), punch.state), punch)
            times = [key[1] for key in unique]
            pins = sorted({key[0] for key in unique})
            existing = {
                (pin, at.astimezone(UTC), state)
                for pin, at, state in await Punch.filter(
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
            results.append(StoreResult(stored=len(new), duplicates=len(batch.punches) - len(new)))
    return results


async def store_group(
    dialect: str, batches: Sequence[PunchBatch], rejections: Sequence[Rejection] = ()
) -> list[StoreResult]:
    """Store the batches and quarantine the rejections in ONE transaction; one result per batch."""
    if dialect == "postgres":
        return await _store_postgres(batches, rejections)
    return await _store_sqlite(batches, rejections)


async def store_batch(batch: PunchBatch, dialect: str = "sqlite") -> StoreResult:
    (result,) = await store_group(dialect, [batch])
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

    def submit_batch(self, batch: PunchBatch) -> asyncio.Future[StoreResult | None]:
        return self._submit(batch, None)

    def submit_rejection(self, rejection: Rejection) -> asyncio.Future[StoreResult | None]:
        return self._submit(None, rejection)

    def _submit(self, batch: PunchBatch | None, rejection: Rejection | None) -> asyncio.Future[StoreResult | None]:
        future: asyncio.Future[StoreResult | None] = asyncio.get_running_loop().create_future()
        job = _Job(batch, rejection, future)
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
                log.error("storing a batch failed: %s", exc)
                return [RuntimeError(f"the database refused the write: {exc}")]
            log.warning("a group of %d jobs failed to store (%s); retrying them one by one", len(group), exc)
            outcomes: list[StoreResult | BaseException | None] = []
            for job in group:
                outcomes.extend(await self._write([job]))
            return outcomes

    async def _commit(self, group: list[_Job]) -> list[StoreResult | None]:
        batches = [job.batch for job in group if job.batch is not None]
        rejections = [job.rejection for job in group if job.rejection is not None]
        results = iter(await store_group(self.dialect, batches, rejections))
        self.counters.transactions += 1
        self.counters.quarantined += len(rejections)
        outcomes: list[StoreResult | None] = []
        for job in group:
            if job.batch is None:
                outcomes.append(None)
                continue
            result = next(results)
            self.counters.batches += 1
            self.counters.punches_stored += result.stored
            self.counters.punches_duplicate += result.duplicates
            outcomes.append(result)
        return outcomes
