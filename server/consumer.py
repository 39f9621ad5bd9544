"""The MQTT side of ingestion: punch batches in, acks out.

Every batch gets an answer on its gateway's ack topic: `stored` after the database commit, or
`rejected` (and the raw message quarantined) when it breaks the contract. The broker PUBACK is sent
after that answer. If storing fails (database down), the batch gets no answer: the gateway still
holds it and resends, so nothing is lost and the broker's in-flight window is not blocked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kinerja.contract import (
    MAX_BATCH_BYTES,
    AckStatus,
    BatchAck,
    ContractError,
    PunchBatch,
    TopicAddress,
    TopicKind,
    parse_topic,
    peek_id,
    subscription_for,
)
from kinerja.mqtt import AsyncMqttClient, IncomingMessage
from server.ingest import identity_mismatch, quarantine, store_batch
from server.settings import ServerSettings

log = logging.getLogger(__name__)


@dataclass
class IngestCounters:
    batches_stored: int = 0
    punches_stored: int = 0
    punches_duplicate: int = 0
    quarantined: int = 0
    store_failures: int = 0


class PunchConsumer:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.counters = IngestCounters()
        self.mqtt = AsyncMqttClient(settings.mqtt, client_id=settings.replica_id, persistent=True)
        # MQTT 5: a shared subscription, so replicas split the stream; 3.1.1 (embedded broker): one replica.
        group = settings.share_group if settings.mqtt.protocol == "5" else None
        self.mqtt.subscribe(subscription_for(TopicKind.PUNCHES, shared_group=group), self.handle)

    async def start(self) -> None:
        await self.mqtt.start()

    async def close(self) -> None:
        await self.mqtt.close()

    async def handle(self, message: IncomingMessage) -> None:
        try:
            await self._handle(message)
        except Exception:
            self.counters.store_failures += 1
            log.exception("could not store a batch from %s; the gateway will resend it", message.topic)
        self.mqtt.ack(message)

    async def _handle(self, message: IncomingMessage) -> None:
        try:
            address = parse_topic(message.topic)
        except ContractError as exc:
            await self._quarantine(message, str(exc), None)
            return
        try:
            batch = PunchBatch.from_json(message.payload)
        except ContractError as exc:
            await self._quarantine(message, str(exc), address.gateway)
            self._answer(
                address,
                BatchAck(peek_id(message.payload, "batch_id", MAX_BATCH_BYTES), AckStatus.REJECTED, reason=str(exc)),
            )
            return
        mismatch = identity_mismatch(batch, address)
        if mismatch:
            await self._quarantine(message, mismatch, address.gateway)
            self._answer(address, BatchAck(batch.batch_id, AckStatus.REJECTED, reason=mismatch))
            return
        result = await store_batch(batch)
        self.counters.batches_stored += 1
        self.counters.punches_stored += result.stored
        self.counters.punches_duplicate += result.duplicates
        self._answer(address, BatchAck(batch.batch_id, AckStatus.STORED, result.stored, result.duplicates))

    async def _quarantine(self, message: IncomingMessage, reason: str, gateway_id: str | None) -> None:
        self.counters.quarantined += 1
        await quarantine(message.topic, message.payload, reason, gateway_id)

    def _answer(self, address: TopicAddress, ack: BatchAck) -> None:
        ack_address = TopicAddress(address.unit, address.gateway, TopicKind.ACKS)
        self.mqtt.publish(ack_address.topic, ack.to_json(), qos=1)
