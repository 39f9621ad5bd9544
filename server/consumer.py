"""The MQTT side of ingestion: punch batches in, acks out; gateway status, telemetry and command results.

Every batch gets an answer on its gateway's ack topic: `stored` after the database commit, or
`rejected` (and the raw message quarantined, in the database, before the answer) when it breaks the
contract. The broker PUBACK is sent after that answer. If storing fails (database down), the batch
gets no answer: the gateway still holds it and resends, so nothing is lost and the broker's in-flight
window is not blocked.

Punches arrive on a shared subscription (MQTT 5), so replicas split them. Status (birth and will) is
retained and every replica subscribes to it without sharing, because a shared subscription never
receives retained messages. Telemetry and command results are shared like punches.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from server.biometrics import BiometricIntake
from server.db import dialect_of
from server.ingest import IngestWriter, Rejection, StoreResult, identity_mismatch
from server.settings import ServerSettings
from server.status import record_command_result, record_status, record_telemetry
from wire.contract import (
    MAX_BATCH_BYTES,
    AckStatus,
    BatchAck,
    Command,
    CommandResult,
    ContractError,
    GatewayStatus,
    PunchBatch,
    Telemetry,
    TopicAddress,
    TopicKind,
    address_for,
    parse_topic,
    peek_id,
    subscription_for,
)
from wire.mqtt import AsyncMqttClient, IncomingMessage

log = logging.getLogger(__name__)

# A rejected message is kept whole up to this size.
MAX_QUARANTINED_BYTES = 1024 * 1024


@dataclass
class IngestCounters:
    batches_received: int = 0
    batches_stored: int = 0
    punches_stored: int = 0
    punches_duplicate: int = 0
    quarantined: int = 0
    store_failures: int = 0
    status_messages: int = 0
    telemetry_messages: int = 0
    command_results: int = 0
    ignored_messages: int = 0


class PunchConsumer:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.counters = IngestCounters()
        self.writer = IngestWriter(dialect_of(settings.db_url), depth=settings.writer_depth)
        self.mqtt = AsyncMqttClient(
            settings.mqtt,
            client_id=settings.replica_id,
            persistent=True,
            session_expiry_s=settings.session_expiry_s,
            receive_maximum=settings.receive_maximum,
        )
        # MQTT 5: a shared subscription, so replicas split the stream; 3.1.1 (embedded broker): one replica.
        group = settings.share_group if settings.mqtt.protocol == "5" else None
        for unit in settings.units or (None,):
            self.mqtt.subscribe(subscription_for(TopicKind.PUNCHES, shared_group=group, unit=unit), self.handle)
            self.mqtt.subscribe(subscription_for(TopicKind.STATUS, unit=unit), self._on_status)
            self.mqtt.subscribe(
                subscription_for(TopicKind.TELEMETRY, shared_group=group, unit=unit), self._on_telemetry
            )
            self.mqtt.subscribe(
                subscription_for(TopicKind.COMMAND_RESULTS, shared_group=group, unit=unit), self._on_command_result
            )
            self.mqtt.subscribe(
                subscription_for(TopicKind.BIOMETRICS, shared_group=group, unit=unit), self._on_biometric
            )
        self.biometrics = BiometricIntake()

    async def start(self) -> None:
        self.writer.start()
        await self.mqtt.start()

    async def close(self) -> None:
        await self.mqtt.close()
        await self.writer.close()

    async def handle(self, message: IncomingMessage) -> None:
        """Validate now, store later: the writer groups this batch with others; ack after its commit."""
        self.counters.batches_received += 1
        try:
            address = parse_topic(message.topic)
        except ContractError as exc:
            self._reject(message, str(exc), None, None)
            return
        try:
            batch = PunchBatch.from_json(message.payload)
        except ContractError as exc:
            self._reject(message, str(exc), address, peek_id(message.payload, "batch_id", MAX_BATCH_BYTES))
            return
        mismatch = identity_mismatch(batch, address)
        if mismatch:
            self._reject(message, mismatch, address, batch.batch_id)
            return
        future = self.writer.submit_batch(batch)
        future.add_done_callback(lambda done: self._after_store(message, address, batch.batch_id, done))

    def _reject(
        self, message: IncomingMessage, reason: str, address: TopicAddress | None, batch_id: str | None
    ) -> None:
        self.counters.quarantined += 1
        log.warning("quarantining a message on %s: %s", message.topic, reason)
        payload = message.payload
        if len(payload) > MAX_QUARANTINED_BYTES:
            # Only a broker without a packet limit lets this through; keep enough to see what it was.
            reason = f"{reason} (payload of {len(payload)} bytes; the first {MAX_QUARANTINED_BYTES} kept)"
            payload = payload[:MAX_QUARANTINED_BYTES]
        rejection = Rejection(message.topic, payload, reason, address.gateway if address else None)
        future = self.writer.submit_rejection(rejection)

        def answer(done: asyncio.Future[StoreResult | None]) -> None:
            if done.cancelled() or done.exception() is not None:
                # Not even quarantined (database down): no PUBACK-less limbo, but no nack either; the
                # gateway resends and the message is judged again.
                self.counters.store_failures += 1
            elif address is not None:
                self._answer(address, BatchAck(batch_id or "", AckStatus.REJECTED, reason=reason))
            self.mqtt.ack(message)

        future.add_done_callback(answer)

    def _after_store(
        self, message: IncomingMessage, address: TopicAddress, batch_id: str, done: asyncio.Future[StoreResult | None]
    ) -> None:
        if done.cancelled():
            return  # shutting down: no PUBACK, the broker redelivers to this session or the gateway resends
        error = done.exception()
        if error is not None:
            self.counters.store_failures += 1
            log.error("could not store batch %s from %s (%s); the gateway will resend it", batch_id, address, error)
        else:
            result = done.result()
            assert result is not None
            self.counters.batches_stored += 1
            self.counters.punches_stored += result.stored
            self.counters.punches_duplicate += result.duplicates
            self._answer(address, BatchAck(batch_id, AckStatus.STORED, result.stored, result.duplicates))
        self.mqtt.ack(message)

    def _answer(self, address: TopicAddress, ack: BatchAck) -> None:
        self.mqtt.send(address_for(address.unit, address.gateway, TopicKind.ACKS), ack.to_json())

    async def _on_status(self, message: IncomingMessage) -> None:
        try:
            address = parse_topic(message.topic)
            status = GatewayStatus.from_json(message.payload)
            if status.gateway_id != address.gateway:
                raise ContractError(f"gateway_id {status.gateway_id!r} is not the topic's gateway {address.gateway!r}")
        except ContractError as exc:
            self.counters.ignored_messages += 1
            log.warning("ignoring a status message on %s: %s", message.topic, exc)
        else:
            self.counters.status_messages += 1
            await record_status(address, status)
        self.mqtt.ack(message)

    async def _on_telemetry(self, message: IncomingMessage) -> None:
        try:
            address = parse_topic(message.topic)
            telemetry = Telemetry.from_json(message.payload)
            if telemetry.gateway_id != address.gateway:
                raise ContractError(
                    f"gateway_id {telemetry.gateway_id!r} is not the topic's gateway {address.gateway!r}"
                )
        except ContractError as exc:
            self.counters.ignored_messages += 1
            log.warning("ignoring telemetry on %s: %s", message.topic, exc)
        else:
            self.counters.telemetry_messages += 1
            await record_telemetry(address, telemetry)
        self.mqtt.ack(message)

    async def _on_command_result(self, message: IncomingMessage) -> None:
        try:
            address = parse_topic(message.topic)
            result = CommandResult.from_json(message.payload)
        except ContractError as exc:
            self.counters.ignored_messages += 1
            log.warning("ignoring a command result on %s: %s", message.topic, exc)
        else:
            self.counters.command_results += 1
            if not await record_command_result(address, result):
                log.warning("%s answered command %r, which it was never sent", address.gateway, result.command_id)
        self.mqtt.ack(message)

    async def _on_biometric(self, message: IncomingMessage) -> None:
        """Judged by server/biometrics.py; quarantined (template withheld) before the answer, as batches are."""
        try:
            address = parse_topic(message.topic)
        except ContractError as exc:
            self.counters.ignored_messages += 1
            log.warning("ignoring a biometric upload on %s: %s", message.topic, exc)
            self.mqtt.ack(message)
            return
        ack, kept, reason = self.biometrics.judge(address, message.payload)
        log.info("%s", reason)  # the reason names the upload, never its template

        def answer(done: asyncio.Future[StoreResult | None] | None = None) -> None:
            if done is not None and (done.cancelled() or done.exception() is not None):
                self.counters.store_failures += 1  # not kept aside: no answer, the gateway offers it again
            elif ack is not None:
                self.mqtt.send(address_for(address.unit, address.gateway, TopicKind.BIOMETRIC_ACKS), ack.to_json())
            self.mqtt.ack(message)

        if kept is None:
            answer()
            return
        self.counters.quarantined += 1
        self.writer.submit_rejection(Rejection(message.topic, kept, reason, address.gateway)).add_done_callback(answer)

    async def send_command(self, unit: str, gateway_id: str, command: Command) -> None:
        """Publish a command on the gateway's command topic and wait for the broker to take it."""
        await self.mqtt.send_confirmed(address_for(unit, gateway_id, TopicKind.COMMANDS), command.to_json())
