"""Devices the centre has never seen (BioTime's "not authorised" area): listed per unit, assigned by an
administrator of that unit, and then their held punch batches are stored in the order they arrived.

Knows the database, not HTTP. A device reported by gateway G of unit U is pending *for G*: assigning it
registers the serial to G, so from then on G's punches for it are stored and anyone else's refused.
Batches other gateways sent for the same serial meanwhile are quarantined at that moment, with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.models import Device, HeldBatch, Office, PendingDevice
from server.services.ingest import Rejection, store_group
from server.services.registry import NotFound, RegistryError
from wire.contract import ContractError, PunchBatch, TopicAddress, TopicKind

log = logging.getLogger(__name__)

# Held batches are read this many at a time, so a large backlog is never all in memory.
RELEASE_CHUNK = 200


@dataclass(frozen=True, slots=True)
class Release:
    serial: str
    gateway_id: str
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0


async def pending_devices(unit_code: str) -> list[dict[str, Any]]:
    """The unit's pending devices, oldest first, each with how much it holds."""
    claims = await PendingDevice.filter(unit_code=unit_code).order_by("first_seen_at", "id")
    items = []
    for claim in claims:
        held = await HeldBatch.filter(gateway_id=claim.gateway_id, device_serial=claim.serial).values_list(
            "punches", flat=True
        )
        registered_elsewhere = (
            await Device.filter(serial=claim.serial, gateway_id__not_isnull=True)
            .exclude(gateway_id=claim.gateway_id)
            .exists()
        )
        items.append({
            "serial": claim.serial,
            "gateway": claim.gateway_id,
            "unit": claim.unit_code,
            "name": claim.name,
            "first_seen_at": _iso(claim.first_seen_at),
            "last_seen_at": _iso(claim.last_seen_at),
            "held_batches": len(held),
            "held_punches": sum(held),
            "registered_elsewhere": registered_elsewhere,
        })  # fmt: skip
    return items


async def assign_device(
    dialect: str, unit_code: str, serial: str, gateway_id: str | None = None, office_code: str | None = None
) -> Release:
    """Register a pending device of this unit to the gateway that reported it, then release its punches."""
    claims = [c for c in await PendingDevice.filter(unit_code=unit_code, serial=serial).order_by("id")
              if gateway_id is None or c.gateway_id == gateway_id]  # fmt: skip
    if not claims:
        raise NotFound(f"no pending device {serial!r} in unit {unit_code!r}")
    if len(claims) > 1:
        gateways = ", ".join(c.gateway_id for c in claims)
        raise RegistryError(f"gateway: device {serial} was reported by several gateways ({gateways}); name one")
    claim = claims[0]
    device = await Device.get_or_none(serial=serial)
    if device is not None and device.gateway_id not in (None, claim.gateway_id):
        raise RegistryError(f"device {serial} is registered to another gateway already")
    if office_code is not None and not await Office.exists(code=office_code, unit_id=unit_code):
        raise RegistryError(f"office: no office {office_code!r} in unit {unit_code!r}")
    if device is None:
        device = Device(serial=serial, name=claim.name)
    device.gateway_id = claim.gateway_id
    if office_code is not None:
        device.office_id = office_code  # type: ignore[attr-defined]
    await device.save()
    release = await release_held(dialect, claim.gateway_id, serial)
    await claim.delete()
    quarantined = await _refuse_other_claims(dialect, serial, claim.gateway_id)
    log.info("device %s assigned to %s: %d held batches released", serial, claim.gateway_id, release.batches)
    return Release(serial, claim.gateway_id, release.batches, release.stored, release.duplicates,
                   release.quarantined + quarantined)  # fmt: skip


async def release_held(dialect: str, gateway_id: str, serial: str) -> Release:
    """Store the held batches of a device now registered to this gateway, in the order they arrived."""
    batches = stored = duplicates = quarantined = 0
    topic_cache: dict[str, str] = {}
    while True:
        chunk = await HeldBatch.filter(gateway_id=gateway_id, device_serial=serial).order_by("id").limit(RELEASE_CHUNK)
        if not chunk:
            break
        parsed: list[PunchBatch] = []
        raws: list[tuple[str, bytes] | None] = []
        unreadable: list[Rejection] = []
        for held in chunk:
            topic = topic_cache.setdefault(held.unit_code, _punch_topic(held.unit_code, gateway_id))
            payload = bytes(held.payload)
            try:
                parsed.append(PunchBatch.from_json(payload))
                raws.append((topic, payload))
            except ContractError as exc:  # held under an older, more lenient contract
                unreadable.append(Rejection(topic, payload, f"held batch no longer readable: {exc}", gateway_id))
        # One transaction per batch: the rows of a group go in sorted by key, and these go in as they came.
        for batch, raw in zip(parsed, raws, strict=True):
            (result,) = await store_group(dialect, [batch], raws=[raw])
            stored += result.stored
            duplicates += result.duplicates
            quarantined += result.outcome.value == "rejected"
        if unreadable:
            await store_group(dialect, [], unreadable)
        quarantined += len(unreadable)
        batches += len(chunk)
        await HeldBatch.filter(id__in=[held.id for held in chunk]).delete()
    return Release(serial, gateway_id, batches, stored, duplicates, quarantined)


async def _refuse_other_claims(dialect: str, serial: str, owner: str) -> int:
    count = 0
    for other in await PendingDevice.filter(serial=serial).exclude(gateway_id=owner):
        held = await HeldBatch.filter(gateway_id=other.gateway_id, device_serial=serial).order_by("id")
        topic = _punch_topic(other.unit_code, other.gateway_id)
        reason = f"device {serial} was assigned to another gateway: these punches are not taken from {other.gateway_id}"
        rejections = [Rejection(topic, bytes(h.payload), reason, other.gateway_id) for h in held]
        if rejections:
            await store_group(dialect, [], rejections)
        await HeldBatch.filter(id__in=[h.id for h in held]).delete()
        await other.delete()
        count += len(rejections)
    return count


def _punch_topic(unit_code: str, gateway_id: str) -> str:
    return TopicAddress(unit_code, gateway_id, TopicKind.PUNCHES).topic


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
