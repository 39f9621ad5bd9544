"""The MQTT side of ingestion: punch batches in, acks out; gateway status, telemetry and command results.

Every batch gets an answer on its gateway's ack topic: `stored` after the database commit, `held`
(kept whole, for a device its unit has not assigned yet), or `rejected` (and the raw message
quarantined, in the database, before the answer) when it breaks the contract, names a device registered
to another gateway, or holds a value the database cannot. The broker PUBACK is sent after that answer.
If storing fails (database down), the batch gets no answer: the gateway still holds it and resends, so
nothing is lost and the broker's in-flight window is not blocked.

Whatever a handler raises, on any topic, the message is quarantined with the reason and acknowledged:
no message can keep its slot of the in-flight window, so one hostile gateway cannot stop the others.

Punches arrive on a shared subscription (MQTT 5), so replicas split them. Status (birth and will) is
retained and every replica subscribes to it without sharing, because a shared subscription never
receives retained messages. Telemetry and command results are shared like punches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from server.db import dialect_of
from server.services.biometric_keys import Keyring
from server.services.biometric_store import BiometricStore
from server.services.biometrics import BiometricIntake, valid_upload
from server.services.ingest import IngestWriter, Rejection, StoreResult, identity_mismatch, is_transient
from server.settings import ServerSettings
from server.status import record_command_result, record_status, record_telemetry
from wire.contract import (
    MAX_BATCH_BYTES,
    AckStatus,
    BatchAck,
    BiometricAck,
    BiometricAckStatus,
    BiometricUpload,
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
    held: int = 0
    store_failures: int = 0
    status_messages: int = 0
    telemetry_messages: int = 0
    command_results: int = 0
    ignored_messages: int = 0
    # Device reports in telemetry about devices registered to another gateway: never recorded.
    foreign_device_reports: int = 0


class PunchConsumer:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.counters = IngestCounters()
        self.writer = IngestWriter(
            dialect_of(settings.db_url), depth=settings.writer_depth, new_devices=settings.new_devices
        )
        self.mqtt = AsyncMqttClient(
            settings.mqtt,
            client_id=settings.replica_id,
            persistent=True,
            session_expiry_s=settings.session_expiry_s,
            receive_maximum=settings.receive_maximum,
            # The broker's Receive Maximum is not enough (Mosquitto 2.0 delivered ~5x past it under a flood,
            # tests/test_ingest_backpressure.py): at most this many batches are taken before their acks.
            window=settings.receive_maximum,
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
        # Told (this consumer, NIP) after a template is stored: services/areas.py writes it to the areas' devices.
        self.after_enrolment: Callable[[PunchConsumer, str], Awaitable[None]] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # Templates are stored only under a key kept outside the database; without one they are deferred.
        self.biometric_store = (
            BiometricStore(Keyring.load(Path(settings.biometric_key_file))) if settings.biometric_key_file else None
        )

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
            self._take_batch(message)
        except Exception as exc:  # whatever it was, this message must not keep its slot of the window
            log.exception("a punch message on %s broke the handler", message.topic)
            address = _address_or_none(message.topic)
            batch_id = peek_id(message.payload, "batch_id", MAX_BATCH_BYTES)
            self._reject(message, _unexpected(exc), address, batch_id)

    def _take_batch(self, message: IncomingMessage) -> None:
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
        future = self.writer.submit_batch(batch, (message.topic, message.payload))
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
            elif address is not None and address.kind is TopicKind.PUNCHES:
                self._answer(address, BatchAck(batch_id or "", AckStatus.REJECTED, reason=reason[:2000]))
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
            if result.outcome is AckStatus.STORED:
                self.counters.batches_stored += 1
                self.counters.punches_stored += result.stored
                self.counters.punches_duplicate += result.duplicates
                self._answer(address, BatchAck(batch_id, AckStatus.STORED, result.stored, result.duplicates))
            else:
                if result.outcome is AckStatus.HELD:
                    self.counters.held += 1
                else:
                    self.counters.quarantined += 1
                    log.warning("refused batch %s from %s: %s", batch_id, address.gateway, result.reason)
                self._answer(address, BatchAck(batch_id, result.outcome, reason=result.reason))
        self.mqtt.ack(message)

    def _answer(self, address: TopicAddress, ack: BatchAck) -> None:
        self.mqtt.send(address_for(address.unit, address.gateway, TopicKind.ACKS), ack.to_json())

    async def _on_status(self, message: IncomingMessage) -> None:
        await self._guarded(message, self._status)

    async def _on_telemetry(self, message: IncomingMessage) -> None:
        await self._guarded(message, self._telemetry)

    async def _on_command_result(self, message: IncomingMessage) -> None:
        await self._guarded(message, self._command_result)

    async def _guarded(self, message: IncomingMessage, handler: Callable[[IncomingMessage], Awaitable[None]]) -> None:
        """Run a handler of a non-punch message; whatever it raises, the message ends quarantined (or,
        when the database itself is away, dropped: status is retained and telemetry comes every minute)
        and acknowledged."""
        try:
            await handler(message)
        except ContractError as exc:
            reason = str(exc)
        except Exception as exc:
            if is_transient(exc):
                self.counters.store_failures += 1
                log.error("could not record a message on %s (%s); the database is away", message.topic, exc)
                self.mqtt.ack(message)
                return
            log.exception("a message on %s broke its handler", message.topic)
            reason = _unexpected(exc)
        else:
            self.mqtt.ack(message)
            return
        self.counters.ignored_messages += 1
        self._reject(message, reason, _address_or_none(message.topic), None)

    async def _status(self, message: IncomingMessage) -> None:
        address = parse_topic(message.topic)
        if not message.payload:
            return  # a retained status being cleared
        status = GatewayStatus.from_json(message.payload)
        if status.gateway_id != address.gateway:
            raise ContractError(f"gateway_id {status.gateway_id!r} is not the topic's gateway {address.gateway!r}")
        self.counters.status_messages += 1
        await record_status(address, status)

    async def _telemetry(self, message: IncomingMessage) -> None:
        address = parse_topic(message.topic)
        telemetry = Telemetry.from_json(message.payload)
        if telemetry.gateway_id != address.gateway:
            raise ContractError(f"gateway_id {telemetry.gateway_id!r} is not the topic's gateway {address.gateway!r}")
        self.counters.telemetry_messages += 1
        ignored = await record_telemetry(address, telemetry, self.settings.new_devices)
        self.counters.foreign_device_reports += ignored

    async def _command_result(self, message: IncomingMessage) -> None:
        address = parse_topic(message.topic)
        result = CommandResult.from_json(message.payload)
        self.counters.command_results += 1
        if not await record_command_result(address, result):
            log.warning("%s answered command %r, which it was never sent", address.gateway, result.command_id)

    async def _on_biometric(self, message: IncomingMessage) -> None:
        """Judged by services/biometrics.py; quarantined (template withheld) before the answer, as batches are."""
        try:
            address = parse_topic(message.topic)
        except ContractError as exc:
            self.counters.ignored_messages += 1
            log.warning("ignoring a biometric upload on %s: %s", message.topic, exc)
            self.mqtt.ack(message)
            return
        upload = valid_upload(address, message.payload) if self.biometric_store is not None else None
        if upload is not None:
            await self._store_biometric(message, address, upload)
            return
        try:
            ack, kept, reason = self.biometrics.judge(address, message.payload)
        except Exception as exc:  # one broken upload must not hold the window: quarantined and acked
            log.exception("a biometric upload on %s broke its judge", message.topic)
            self.counters.quarantined += 1
            withheld = f"<biometric upload of {len(message.payload)} bytes withheld>".encode()  # never the template
            rejection = Rejection(message.topic, withheld, _unexpected(exc), address.gateway)
            self.writer.submit_rejection(rejection).add_done_callback(lambda _done: self.mqtt.ack(message))
            return
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

    async def _store_biometric(self, message: IncomingMessage, address: TopicAddress, upload: BiometricUpload) -> None:
        """Into the encrypted store, answered after the commit; the database away: no answer, the gateway
        offers it again. Whatever else goes wrong, the upload's metadata (never its template) is kept aside."""
        assert self.biometric_store is not None
        try:
            ack, enrolled = await self.biometric_store.store_upload(address, upload)
        except Exception as exc:
            if is_transient(exc):
                self.counters.store_failures += 1
                log.error("could not store biometric upload %s (%s); offered again", upload.upload_id, exc)
                self.mqtt.ack(message)
                return
            log.exception("biometric upload %s from %s could not be stored", upload.upload_id, address.gateway)
            self.counters.quarantined += 1
            reason = _unexpected(exc)
            ack, enrolled = (
                BiometricAck(upload.upload_id, BiometricAckStatus.DEFERRED, reason=reason, retry_after_s=6 * 3600),
                None,
            )
            rejection = Rejection(message.topic, upload.redacted(), reason, address.gateway)
            with contextlib.suppress(Exception):  # not kept aside (database away): it is answered anyway
                await self.writer.submit_rejection(rejection)
        log.info("biometric upload %s (device %s, PIN %s, %s %s): %s", upload.upload_id, upload.device_serial,
                 upload.pin, upload.modality, upload.index, ack.status.value)  # fmt: skip
        self.mqtt.send(address_for(address.unit, address.gateway, TopicKind.BIOMETRIC_ACKS), ack.to_json())
        self.mqtt.ack(message)
        if enrolled is not None and self.after_enrolment is not None:
            task = asyncio.create_task(self._tell_areas(enrolled))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _tell_areas(self, nip: str) -> None:
        assert self.after_enrolment is not None
        try:
            await self.after_enrolment(self, nip)
        except Exception:  # the template is stored; the next sync of the area carries it
            log.exception("could not send the new template of %s to its areas' devices", nip)

    async def send_command(self, unit: str, gateway_id: str, command: Command) -> None:
        """Publish a command on the gateway's command topic and wait for the broker to take it."""
        await self.mqtt.send_confirmed(address_for(unit, gateway_id, TopicKind.COMMANDS), command.to_json())


def _address_or_none(topic: str) -> TopicAddress | None:
    try:
        return parse_topic(topic)
    except ContractError:
        return None


def _unexpected(error: Exception) -> str:
    return f"the centre could not read this message ({type(error).__name__}: {str(error)[:300]})"
