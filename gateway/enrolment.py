"""Enrolment detection: a template enrolled on a device goes to the centre once, and stays on the
gateway until the centre says it has it.

- Push devices upload a template after an enrolment (gateway/push/templates.py): their coordinator
  hands each new one here (`PushDeviceCoordinator.on_template`).
- ZK terminals say nothing: `EnrolmentWatcher` reads their fingerprint templates every
  `check_every_s` (pyzk's template table, one buffered read) and offers each one here.

`BiometricOutbox` keeps what is to be sent in its own SQLite file (state_dir/biometrics.sqlite, mode
0600, WAL + synchronous=FULL like the punch queue) and remembers a keyed digest of every template it
has offered, per device and slot, so the same template is offered once. `BiometricSender` publishes
each as a BiometricUpload (wire/contract.py) on the gateway's biometrics topic and forgets it on a
BiometricAck `stored` or `rejected`; on `deferred` (a centre that cannot store templates yet) it keeps
it and offers it again after the ack's `retry_after_s`; with no ack it resends with backoff.

A template written to a ZK terminal by a user sync is remembered as known (`remember`), so the next
check does not report the centre's own template back to it; a push device's coordinator knows what it
wrote the same way.

Templates are specific personal data (UU 27/2022): nothing here logs them or counts more than their
number; the outbox deletes each row once acked, and the digests are keyed with a random per-gateway key
so they cannot be compared with anyone else's.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.devices.base import DeviceError, DeviceTemplate
from gateway.durable import immediate_transaction, open_durable
from wire.aio import wait_event
from wire.contract import (
    BiometricAck,
    BiometricAckStatus,
    BiometricUpload,
    ContractError,
    TopicKind,
    address_for,
    topic_for,
)
from wire.mqtt import AsyncMqttClient, IncomingMessage

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id     TEXT PRIMARY KEY,
    device        TEXT NOT NULL,
    pin           TEXT NOT NULL,
    modality      TEXT NOT NULL,
    slot          INTEGER NOT NULL,
    format        TEXT NOT NULL,
    template      BLOB NOT NULL,           -- deleted as soon as the centre acks it
    detected_at   REAL NOT NULL,
    next_at       REAL NOT NULL,           -- when to (re)send
    attempts      INTEGER NOT NULL DEFAULT 0,
    deferred      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS offered (
    device TEXT NOT NULL, pin TEXT NOT NULL, modality TEXT NOT NULL, slot INTEGER NOT NULL,
    digest BLOB NOT NULL,
    PRIMARY KEY (device, pin, modality, slot)
) WITHOUT ROWID;
"""
DEFAULT_CHECK_EVERY_S = 300.0


@dataclass(frozen=True, slots=True)
class PendingUpload:
    upload_id: str
    device: str
    template: DeviceTemplate
    detected_at: float
    attempts: int


class BiometricOutbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_durable(path, SCHEMA)
        os.chmod(path, 0o600)  # personal data: only the gateway's own user reads it
        row = self._db.execute("SELECT value FROM meta WHERE name = 'digest_key'").fetchone()
        if row is None:
            key = secrets.token_bytes(32)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('digest_key', ?)", (key,))
            row = self._db.execute("SELECT value FROM meta WHERE name = 'digest_key'").fetchone()
        self._key: bytes = row[0]
        self.offered = 0
        self.stored = 0
        self.rejected = 0
        self.deferred = 0

    def close(self) -> None:
        self._db.close()

    def offer(self, device: str, template: DeviceTemplate) -> bool:
        """Queue the template unless this device's slot was offered with the same bytes before."""
        digest = hashlib.blake2b(template.data, key=self._key, digest_size=32).digest()
        slot = (device, template.pin, template.modality, template.index)
        with immediate_transaction(self._db):
            known = self._db.execute(
                "SELECT digest FROM offered WHERE device = ? AND pin = ? AND modality = ? AND slot = ?", slot
            ).fetchone()
            if known is not None and known[0] == digest:
                return False
            self._db.execute("INSERT OR REPLACE INTO offered VALUES (?, ?, ?, ?, ?)", (*slot, digest))
            # A newer template of the same slot replaces one not yet sent: the older is no longer on the device.
            self._db.execute("DELETE FROM uploads WHERE device = ? AND pin = ? AND modality = ? AND slot = ?", slot)
            now = time.time()
            self._db.execute(
                "INSERT INTO uploads (upload_id, device, pin, modality, slot, format, template, detected_at, next_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (uuid.uuid4().hex, *slot, template.format_key, template.data, now, now),
            )
        self.offered += 1
        log.info("device %s: new %s template of PIN %s (slot %d) queued for the centre", device,
                 template.modality, template.pin, template.index)  # fmt: skip
        return True

    def remember(self, device: str, templates: list[DeviceTemplate]) -> None:
        """Templates the centre itself had written to this device (a user sync): known, not to be offered."""
        with immediate_transaction(self._db):
            for template in templates:
                digest = hashlib.blake2b(template.data, key=self._key, digest_size=32).digest()
                slot = (device, template.pin, template.modality, template.index)
                self._db.execute("INSERT OR REPLACE INTO offered VALUES (?, ?, ?, ?, ?)", (*slot, digest))

    def due(self, limit: int = 20) -> list[PendingUpload]:
        rows = self._db.execute(
            "SELECT upload_id, device, pin, modality, slot, format, template, detected_at, attempts FROM uploads"
            " WHERE next_at <= ? ORDER BY detected_at LIMIT ?",
            (time.time(), limit),
        ).fetchall()
        return [
            PendingUpload(row[0], row[1], DeviceTemplate(row[2], row[3], row[4], bytes(row[6]), row[5]), row[7], row[8])
            for row in rows
        ]

    def mark_sent(self, upload_id: str, resend_after_s: float, max_backoff_s: float) -> None:
        with immediate_transaction(self._db):
            row = self._db.execute("SELECT attempts FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
            if row is None:
                return
            wait = min(resend_after_s * 2 ** row[0], max_backoff_s)
            self._db.execute(
                "UPDATE uploads SET attempts = attempts + 1, next_at = ? WHERE upload_id = ?",
                (time.time() + wait, upload_id),
            )

    def acknowledge(self, ack: BiometricAck) -> bool:
        """False for an ack of nothing pending (a duplicate, or another gateway's)."""
        with immediate_transaction(self._db):
            if ack.status is BiometricAckStatus.DEFERRED:
                changed = self._db.execute(
                    "UPDATE uploads SET deferred = 1, next_at = ? WHERE upload_id = ?",
                    (time.time() + ack.retry_after_s, ack.upload_id),
                ).rowcount
            else:
                changed = self._db.execute("DELETE FROM uploads WHERE upload_id = ?", (ack.upload_id,)).rowcount
        if changed:
            counter = {"stored": "stored", "rejected": "rejected", "deferred": "deferred"}[ack.status.value]
            setattr(self, counter, getattr(self, counter) + 1)
        return bool(changed)

    def resend_all_now(self) -> None:
        """After a (re)connect: what was sent may be lost. Deferred ones keep waiting for their time."""
        self._db.execute("UPDATE uploads SET next_at = 0 WHERE deferred = 0")

    def pending(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0])


class BiometricSender:
    """Publishes the outbox on the biometrics topic, over the relay's MQTT connection."""

    def __init__(
        self, outbox: BiometricOutbox, mqtt: AsyncMqttClient, *, unit: str, gateway_id: str, relay: Any
    ) -> None:
        self.outbox, self.mqtt, self.unit, self.gateway_id, self.relay = outbox, mqtt, unit, gateway_id, relay
        self._uploads = address_for(unit, gateway_id, TopicKind.BIOMETRICS)
        self._wake = asyncio.Event()
        mqtt.subscribe(topic_for(unit, gateway_id, TopicKind.BIOMETRIC_ACKS), self._on_ack)
        mqtt.on_connected(self._on_connected)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, tick_s: float = 1.0) -> None:
        while True:
            try:
                if self.mqtt.is_connected:
                    self.publish_due()
            except Exception:  # the loop must not die quietly; a bad row must not stop the others
                log.exception("biometric uploads: publishing failed; trying again")
            self._wake.clear()
            await wait_event(self._wake, tick_s)

    def publish_due(self) -> int:
        sent = 0
        for pending in self.outbox.due():
            message = BiometricUpload(
                upload_id=pending.upload_id,
                gateway_id=self.gateway_id,
                unit=self.unit,
                device_serial=pending.device,
                pin=pending.template.pin,
                modality=pending.template.modality,
                index=pending.template.index,
                template_format=pending.template.format_key,
                template=pending.template.data,
                detected_at=datetime.fromtimestamp(pending.detected_at, UTC),
            )
            self.mqtt.send(self._uploads, message.to_json())
            self.outbox.mark_sent(pending.upload_id, self.relay.resend_after_s, self.relay.max_backoff_s)
            sent += 1
        return sent

    async def _on_connected(self) -> None:
        self.outbox.resend_all_now()
        self.wake()

    async def _on_ack(self, message: IncomingMessage) -> None:
        try:
            ack = BiometricAck.from_json(message.payload)
        except ContractError as exc:
            log.error("ignoring malformed biometric ack on %s: %s", message.topic, exc)
        else:
            if self.outbox.acknowledge(ack) and ack.status is not BiometricAckStatus.STORED:
                log.warning("centre answered biometric upload %s: %s (%s)", ack.upload_id, ack.status.value,
                            ack.reason or "no reason given")  # fmt: skip
        self.mqtt.ack(message)
        self.wake()


class EnrolmentWatcher:
    """Reads each ZK terminal's fingerprint templates now and then, and offers them to the outbox."""

    def __init__(
        self,
        coordinators: Callable[[], list[Any]],
        outbox: BiometricOutbox,
        on_new: Callable[[], None],
        check_every_s: float = DEFAULT_CHECK_EVERY_S,
    ) -> None:
        self.coordinators, self.outbox, self.on_new, self.check_every_s = coordinators, outbox, on_new, check_every_s
        self._failing: set[str] = set()

    async def run(self) -> None:
        while True:  # not at once at start: the device loops read the logs first
            await asyncio.sleep(self.check_every_s)
            try:
                await self.check_all()
            except Exception:  # the loop must not die quietly
                log.exception("enrolment check failed; trying again in %.0f s", self.check_every_s)

    async def check_all(self) -> int:
        new = 0
        for coordinator in self.coordinators():
            profile = coordinator.config.profile
            if profile.protocol != "zk" or profile.biometrics.fingerprint is None:
                continue
            new += await self.check(coordinator)
        if new:
            self.on_new()
        return new

    async def check(self, coordinator: Any) -> int:
        name = coordinator.config.name
        try:
            # The serial asked in the same session: before the first poll the coordinator does not know it yet.
            serial, templates = await coordinator.session(
                lambda driver: (driver.read_info().serial, driver.read_templates())
            )
        except (DeviceError, TimeoutError) as exc:
            if name not in self._failing:  # once per outage, as the device loop does
                log.warning("device %s: templates could not be read: %s", name, exc)
            self._failing.add(name)
            return 0
        if name in self._failing:
            log.info("device %s: templates readable again", name)
            self._failing.discard(name)
        return sum(self.outbox.offer(serial, template) for template in templates)
