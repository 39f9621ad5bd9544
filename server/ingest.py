"""Storing punch batches: validated, idempotent, one transaction per batch.

Knows the database, not MQTT: the consumer hands it parsed messages and publishes what it returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from kinerja.contract import PunchBatch, PunchRecord, TopicAddress
from server.models import Punch, QuarantinedMessage

log = logging.getLogger(__name__)

# A device clock this far ahead of the server's is wrong, not early.
FUTURE_TOLERANCE = timedelta(hours=1)
# ZK firmware resets to 2000-01-01 after losing battery power; no real punch is that old.
OLDEST_PLAUSIBLE = datetime(2001, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StoreResult:
    stored: int
    duplicates: int


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


async def store_batch(batch: PunchBatch) -> StoreResult:
    """Insert every punch not stored yet; a replayed batch inserts nothing and reports duplicates."""
    now = datetime.now(UTC)
    unique: dict[tuple[str, datetime, int], PunchRecord] = {}
    for punch in batch.punches:
        unique.setdefault((punch.pin, punch.time.astimezone(UTC), punch.state), punch)
    async with in_transaction():
        times = [key[1] for key in unique]
        existing = {
            (pin, at.astimezone(UTC), state)
            for pin, at, state in await Punch.filter(
                device_serial=batch.device_serial,
                pin__in=sorted({key[0] for key in unique}),
                punched_at__gte=min(times),
                punched_at__lte=max(times),
            ).values_list("pin", "punched_at", "state")
        }
        new = [
            Punch(
                device_serial=batch.device_serial,
                pin=punch.pin,
                punched_at=key[1],
                utc_offset_minutes=int(punch.time.utcoffset().total_seconds() // 60),  # type: ignore[union-attr]
                state=punch.state,
                verify=punch.verify,
                unit_code=batch.unit,
                gateway_id=batch.gateway_id,
                batch_id=batch.batch_id,
                flag=suspect_time(key[1], now),
            )
            for key, punch in unique.items()
            if key not in existing
        ]
        if new:
            # ignore_conflicts: a replica storing the same batch concurrently must not fail this one.
            await Punch.bulk_create(new, ignore_conflicts=True)
    return StoreResult(stored=len(new), duplicates=len(batch.punches) - len(new))


async def quarantine(topic: str, payload: bytes, reason: str, gateway_id: str | None) -> None:
    await QuarantinedMessage.create(topic=topic[:255], payload=payload, reason=reason, gateway_id=gateway_id)
    log.warning("quarantined a message on %s: %s", topic, reason)
